import keras
import numpy as np
import pytest

from kerasplus import layers
from kerasplus.data import augmented_dataset, load


def test_pipeline_feeds_fit_with_augmented_batches():
    x, y = load("digits")
    x, y = x[:256], y[:256]
    dataset = augmented_dataset(
        x,
        y,
        [keras.layers.RandomFlip("horizontal", seed=0), layers.Cutout(2, seed=0), layers.MixupOrCutMix(num_classes=10, seed=0)],
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
