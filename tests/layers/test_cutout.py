import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.layers import Cutout


def expected_clipped_length(side, extent):
    """Mean covered length of a hole of `side` centred on a uniform pixel, clipped to [0, extent)."""
    starts = np.arange(extent) - side // 2
    return np.mean(np.clip(starts + side, 0, extent) - np.clip(starts, 0, extent))


def test_mean_erased_fraction_matches_the_analytic_expectation_with_border_clipping():
    height, width, side = 12, 9, 5
    images = np.ones((4000, height, width, 1), "float32")
    out = Cutout(side, fill_value=0.0, seed=3)(images, training=True).numpy()
    erased = 1.0 - out.mean()
    expected = expected_clipped_length(side, height) * expected_clipped_length(side, width) / (height * width)
    # 4000 images: standard error of the mean fraction is ~0.0015.
    assert erased == pytest.approx(expected, abs=0.006)
    assert abs(erased - (side * side) / (height * width)) > 0.02  # clipping matters, and is seen


def test_only_a_clipped_rectangle_changes_in_each_image():
    rng = np.random.default_rng(0)
    images = rng.uniform(1.0, 2.0, size=(64, 10, 7, 3)).astype("float32")
    out = Cutout((4, 3), fill_value=-1.0, seed=1)(images, training=True).numpy()
    for before, after in zip(images, out):
        changed = np.any(after != before, axis=-1)
        rows, cols = np.nonzero(changed)
        assert len(rows) > 0
        box = np.zeros_like(changed)
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        np.testing.assert_array_equal(changed, box)  # a filled rectangle ...
        assert rows.max() - rows.min() < 4 and cols.max() - cols.min() < 3  # ... no larger than the hole
        np.testing.assert_array_equal(after[changed], -1.0)
        np.testing.assert_array_equal(after[~changed], before[~changed])  # bit-identical elsewhere


@pytest.mark.parametrize("dtype", ["uint8", "float16", "bfloat16", "float32"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_dtypes_formats_and_shapes_are_preserved(dtype, data_format):
    shape = (3, 11, 6, 2) if data_format == "channels_last" else (3, 2, 11, 6)
    images = keras.ops.cast(np.full(shape, 7, "float32"), dtype)
    out = Cutout(0.5, fill_value=0, seed=0, data_format=data_format)(images, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == dtype and tuple(out.shape) == shape
    values = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
    assert set(np.unique(values)) == {0.0, 7.0}
    # The hole covers whole pixels: all channels of a pixel together.
    channel_axis = -1 if data_format == "channels_last" else 1
    zero = values == 0
    assert np.all(zero.all(axis=channel_axis) == zero.any(axis=channel_axis))


def test_single_image_batch_of_one_and_mean_fill():
    image = np.random.default_rng(2).random((5, 5, 3)).astype("float32")
    out = Cutout(2, fill_value="mean", seed=0)(image, training=True).numpy()
    assert out.shape == (5, 5, 3)
    filled = np.any(out != image, axis=-1)
    np.testing.assert_allclose(out[filled], np.broadcast_to(image.mean(axis=(0, 1)), out[filled].shape), rtol=1e-6)
    assert Cutout(2, seed=0)(image[None], training=True).shape == (1, 5, 5, 3)


def test_identity_unless_training():
    images = np.ones((2, 6, 6, 1), "float32")
    layer = Cutout(3, seed=0)
    np.testing.assert_array_equal(layer(images), images)
    np.testing.assert_array_equal(layer(images, training=False), images)


def test_seeded_layers_repeat_and_differ_between_calls():
    images = np.ones((8, 9, 9, 1), "float32")
    a, b = Cutout(3, seed=5), Cutout(3, seed=5)
    first = a(images, training=True).numpy()
    np.testing.assert_array_equal(first, b(images, training=True).numpy())
    assert not np.array_equal(first, a(images, training=True).numpy())


def test_works_in_tf_data_in_a_model_under_xla_and_round_trips(tmp_path):
    images = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")
    labels = np.arange(16) % 2
    layer = Cutout(3, num_holes=2, seed=0)
    mapped = tf.data.Dataset.from_tensor_slices(images).batch(8).map(lambda x: layer(x, training=True))
    assert next(iter(mapped)).shape == (8, 8, 8, 1)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), Cutout(0.25, seed=1), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
    model.fit(images, labels, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.layers[0].get_config()["size"] == 0.25
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(size=0), ValueError, "`size` must be an integer >= 1; received size=0"),
        (dict(size=1.5), ValueError, r"`size` must be in \(0.0, 1.0\]; received size=1.5"),
        (dict(size=(2, 3, 4)), ValueError, "`size` must be one value or"),
        (dict(size="big"), TypeError, "`size` must be an int"),
        (dict(size=2, num_holes=0), ValueError, "`num_holes` must be an integer >= 1"),
        (dict(size=2, fill_value="median"), TypeError, "`fill_value` must be a real number"),
        (dict(size=2, data_format="nhwc"), ValueError, "`data_format` must be one of"),
    ],
)
def test_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        Cutout(**kwargs)


def test_rejects_holes_larger_than_the_image_and_bad_ranks():
    with pytest.raises(ValueError, match=r"`size` 9 px is larger than the image height 8 \(images are 8x6\)"):
        Cutout(9)(np.zeros((1, 8, 6, 1), "float32"), training=True)
    with pytest.raises(ValueError, match=r"`images` must be a batch of rank 4 .* received shape \(8, 8\)"):
        Cutout(2)(np.zeros((8, 8), "float32"), training=True)
