import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.layers import CutMix, Mixup, MixupOrCutMix


def constant_images(batch, height, width, data_format="channels_last"):
    """Image i is filled with the value i + 1, so every pixel tells its origin."""
    values = np.arange(1, batch + 1, dtype="float32")
    shape = (batch, height, width, 2) if data_format == "channels_last" else (batch, 2, height, width)
    return np.broadcast_to(values.reshape(-1, 1, 1, 1), shape).copy()


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("height, width", [(7, 13), (32, 32), (1, 5)])
def test_label_weights_equal_pixel_fractions_for_every_sample(height, width, data_format):
    batch = 64
    images = constant_images(batch, height, width, data_format)
    labels = np.eye(batch, dtype="float32")
    mixed, soft = CutMix(alpha=1.0, seed=4, data_format=data_format)((images, labels), training=True)
    mixed, soft = keras.ops.convert_to_numpy(mixed), keras.ops.convert_to_numpy(soft)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)
    for i in range(batch):
        origin = mixed[i]
        for j in np.flatnonzero(soft[i] > 0):
            pixel_share = np.mean(origin == j + 1)
            assert soft[i, j] == pytest.approx(pixel_share, abs=1e-6)
        assert set(np.unique(origin)) <= {k + 1.0 for k in np.flatnonzero(soft[i] > 0)}
    if min(height, width) >= 7:
        assert np.mean(np.diag(soft) < 1.0) > 0.5  # boxes were really pasted
    else:  # a box of floor(1 * sqrt(1 - lam)) = 0 rows never pastes anything
        np.testing.assert_array_equal(np.diag(soft), 1.0)


def test_boxes_are_rectangles_from_one_partner():
    images = constant_images(16, 12, 12)
    mixed, soft = CutMix(seed=0)((images, np.eye(16, dtype="float32")), training=True)
    mixed = keras.ops.convert_to_numpy(mixed)[..., 0]
    for i in range(16):
        pasted = mixed[i] != i + 1
        if pasted.any():
            rows, cols = np.nonzero(pasted)
            assert pasted[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()
            assert len(np.unique(mixed[i][pasted])) == 1


@pytest.mark.parametrize("dtype", ["uint8", "float16", "bfloat16", "float32"])
def test_dtype_preserved_and_xla_and_tf_data(dtype):
    images = keras.ops.cast(constant_images(8, 6, 6), dtype)
    layer = CutMix(seed=0)
    compiled = tf.function(lambda x, y: layer((x, y), training=True), jit_compile=True)
    out, soft = compiled(images, tf.eye(8))
    assert keras.backend.standardize_dtype(out.dtype) == dtype and soft.shape == (8, 8)
    ds = tf.data.Dataset.from_tensor_slices((constant_images(8, 6, 6), np.arange(8))).batch(4)
    mapped_layer = CutMix(num_classes=8, seed=1)
    ds = ds.map(lambda x, y: mapped_layer((x, y), training=True))
    x, y = next(iter(ds))
    assert x.shape == (4, 6, 6, 2) and y.shape == (4, 8)


def test_round_trip_of_every_mixing_layer(tmp_path):
    for layer in (
        Mixup(0.3, num_classes=5, seed=1),
        CutMix(0.7, seed=2, data_format="channels_first"),
        MixupOrCutMix(0.1, 0.9, 0.3, seed=3),
    ):
        config = keras.saving.serialize_keras_object(layer)
        restored = keras.saving.deserialize_keras_object(config, safe_mode=True)
        assert type(restored) is type(layer) and restored.get_config() == layer.get_config()


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"`alpha` must be in \[1e-30, 1e\+30\]"):
        CutMix(alpha=-1.0)
    with pytest.raises(ValueError, match=r"`switch_prob` must be in \[0.0, 1.0\]; received switch_prob=1.5"):
        MixupOrCutMix(switch_prob=1.5)
    with pytest.raises(ValueError, match="`num_classes` must be an integer >= 2"):
        CutMix(num_classes=1)


@pytest.mark.parametrize("layer_class", [Mixup, CutMix, MixupOrCutMix])
def test_seeded_and_compiled_and_batch_of_one(layer_class):
    images = constant_images(8, 6, 6)
    labels = np.eye(8, dtype="float32")
    first = layer_class(seed=3)((images, labels), training=True)
    second = layer_class(seed=3)((images, labels), training=True)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    layer = layer_class(seed=0)
    compiled = tf.function(lambda x, y: layer((x, y), training=True), jit_compile=True)
    out, soft = compiled(images, labels)
    np.testing.assert_allclose(soft.numpy().sum(axis=1), 1.0, rtol=1e-6)
    one_image, one_label = layer_class(seed=0)((images[:1], labels[:1]), training=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(one_image), images[:1])
