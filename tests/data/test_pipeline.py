import keras
import numpy as np
import pytest

from kerasplus import layers
from kerasplus.data import augmented_dataset, load
from tests.helpers import run_script_on


def test_pipeline_feeds_fit_with_augmented_batches():
    x, y = load("digits")
    x, y = x[:256], y[:256]
    dataset = augmented_dataset(
        x,
        y,
        [
            keras.layers.RandomFlip("horizontal", seed=0),
            layers.Cutout(2, seed=0),
            layers.MixupOrCutMix(num_classes=10, seed=0),
        ],
        batch_size=32,
        seed=0,
    )
    images, labels = next(iter(dataset))
    assert images.shape == (32, 8, 8, 1) and labels.shape == (32, 10)
    np.testing.assert_allclose(labels.numpy().sum(axis=1), 1.0, rtol=1e-6)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    history = model.fit(dataset, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_without_layers_it_is_a_plain_shuffled_batched_pipeline():
    x = np.arange(10, dtype="float32")[:, None]
    batches = [b.numpy()[:, 0] for b in augmented_dataset(x, batch_size=4, seed=1)]
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches)) == list(range(10))
    assert not np.array_equal(np.concatenate(batches), np.arange(10))


def test_rejects_mixing_without_labels_and_bad_batch_size():
    with pytest.raises(ValueError, match="`y` is needed when `layers` include Mixup/CutMix"):
        augmented_dataset(np.zeros((4, 2, 2, 1)), None, [layers.Mixup()])
    with pytest.raises(ValueError, match="`batch_size` must be an integer >= 1"):
        augmented_dataset(np.zeros((4, 2)), np.zeros(4), batch_size=0)


TF_DATA_SCRIPT = """
import json, keras, numpy as np, tensorflow as tf
import kerasplus
from kerasplus import layers as aug

rng = np.random.default_rng(0)
x = rng.random((8, 8, 8, 3)).astype("float32")
x[1::2] = 0.0  # odd images (classes 1, 3) black: a CutMix label share is then a pixel share
y = np.arange(8) % 4
onehot = np.eye(4, dtype="float32")[y]
made = {
    "Cutout": lambda: aug.Cutout(3, seed=1),
    "Mixup": lambda: aug.Mixup(0.4, num_classes=4, seed=1),
    "CutMix": lambda: aug.CutMix(1.0, num_classes=4, seed=1),
    "MixupOrCutMix": lambda: aug.MixupOrCutMix(num_classes=4, seed=1),
}
out = {"backend": keras.backend.backend(), "map": {}, "pipeline": {}}
for name, make in made.items():
    layer = make()
    # one map call at a time, so the seed's draws come in order and backends can be compared
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    if name == "Cutout":
        data = data.map(lambda a, b: (layer(a, training=True), tf.one_hot(b, 4)))
    else:
        data = data.map(lambda a, b: layer((a, b), training=True))
    out["map"][name] = [[np.asarray(t).tolist() for t in batch] for batch in data]
    # the pipeline as users build it: parallel map, so only its invariants are compared
    ds = kerasplus.data.augmented_dataset(x, onehot, [make(), keras.layers.RandomFlip(seed=0)] if name == "Cutout"
                                          else [aug.Cutout(2, seed=2), make()], batch_size=4, shuffle=False)
    out["pipeline"][name] = [[np.asarray(t).tolist() for t in batch] for batch in ds]
print("RESULT " + json.dumps(out))
"""


def tf_data_outputs(backend):
    return run_script_on(backend, TF_DATA_SCRIPT)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_kerasplus_layer_runs_inside_tf_data_on_jax_and_torch_as_on_tensorflow(backend):
    pytest.importorskip(backend)
    reference, other = tf_data_outputs("tensorflow"), tf_data_outputs(backend)
    assert other["backend"] == backend
    for name, batches in reference["map"].items():
        # inside tf.data the layers run on TensorFlow ops with a TF twin of their seed: the same draws
        for ours, theirs in zip(other["map"][name], batches):
            np.testing.assert_allclose(ours[0], theirs[0], atol=1e-6, err_msg=f"{name} images on {backend}")
            np.testing.assert_allclose(ours[1], theirs[1], atol=1e-6, err_msg=f"{name} labels on {backend}")
    for name, batches in other["pipeline"].items():
        for images, labels in batches:
            images, labels = np.asarray(images), np.asarray(labels)
            assert images.shape == (4, 8, 8, 3) and labels.shape == (4, 4), (name, backend)
            np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-5, err_msg=f"{name} on {backend}")
    cutout = np.asarray(other["map"]["Cutout"][0][0])
    assert (cutout == 0).any() and cutout.shape == (4, 8, 8, 3)
    # CutMix between a black and a lit image: the lit label share is the lit pixel share
    for images, labels in other["map"]["CutMix"]:
        images, labels = np.asarray(images), np.asarray(labels)
        lit = (images != 0).any(axis=-1).mean(axis=(1, 2))
        np.testing.assert_allclose(labels[:, 0] + labels[:, 2], lit, atol=1e-6, err_msg=f"CutMix on {backend}")


def test_rejects_bad_seed_drop_remainder_and_layers_by_name():
    x, y = np.zeros((4, 2)), np.zeros(4)
    with pytest.raises(TypeError, match="`seed` must be an integer; received seed='x'"):
        augmented_dataset(x, y, seed="x")
    with pytest.raises(TypeError, match="`drop_remainder` must be True or False; received drop_remainder=1"):
        augmented_dataset(x, y, drop_remainder=1)
    with pytest.raises(TypeError, match=r"`layers` must be a list of layers.*Wrap one layer as \[layer\]"):
        augmented_dataset(x, y, layers.Cutout(1))
    with pytest.raises(TypeError, match=r"`layers\[0\]` must be callable"):
        augmented_dataset(x, y, ["cutout"])
