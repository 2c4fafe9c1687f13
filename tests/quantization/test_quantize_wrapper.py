import keras
import numpy as np
import pytest

from kerasplus.quantization import QuantizeWrapper
from kerasplus.quantization._fake_quant import RANGE_MARGIN


def int8_symmetric(w, axes):
    """Reference: scale = max|w| / 127 over `axes`, round half up, clip to [-127, 127]."""
    scale = np.abs(w).max(axis=axes, keepdims=True) / 127.0
    return np.clip(np.floor(w / scale + 0.5), -127, 127) * scale


def fake_quant(x, lo, hi):
    """Reference: TensorFlow's documented FakeQuant (8 bits), zero point nudged onto the grid."""
    scale = (hi - lo) / 255
    zero_point = np.clip(np.round(-lo / scale), 0, 255)
    lo, hi = -zero_point * scale, (255 - zero_point) * scale
    return np.floor((np.clip(x, lo, hi) - lo) / scale + 0.5) * scale + lo


def built(layer, shape):
    wrapper = QuantizeWrapper(layer)
    wrapper.build(shape)
    rng = np.random.default_rng(0)
    wrapper.layer.kernel.assign(rng.normal(size=wrapper.layer.kernel.shape).astype("float32"))
    return wrapper, keras.ops.convert_to_numpy(wrapper.layer.kernel)


def test_conv_kernel_is_int8_per_output_channel():
    wrapper, kernel = built(keras.layers.Conv2D(5, 3), (None, 6, 6, 2))
    got = keras.ops.convert_to_numpy(wrapper.quantized_kernel())
    np.testing.assert_allclose(got, int8_symmetric(kernel, (0, 1, 2)), atol=1e-6)
    # Per channel: each output channel uses its own scale.
    assert len({float(np.abs(kernel[..., c]).max()) for c in range(5)}) == 5


def test_depthwise_kernel_is_int8_per_input_times_multiplier_channel():
    wrapper, kernel = built(keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (None, 6, 6, 3))
    got = keras.ops.convert_to_numpy(wrapper.quantized_kernel())
    np.testing.assert_allclose(got, int8_symmetric(kernel, (0, 1)), atol=1e-6)


def test_dense_kernel_is_int8_per_tensor():
    wrapper, kernel = built(keras.layers.Dense(4), (None, 7))
    got = keras.ops.convert_to_numpy(wrapper.quantized_kernel())
    np.testing.assert_allclose(got, int8_symmetric(kernel, (0, 1)), atol=1e-6)


LAYERS = {
    "conv": (lambda: keras.layers.Conv2D(5, 3), (None, 6, 6, 2), (0, 1, 2)),
    "depthwise": (lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=2), (None, 6, 6, 3), (0, 1)),
    "dense": (lambda: keras.layers.Dense(4), (None, 7), (0, 1)),
}


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
@pytest.mark.parametrize("kind", LAYERS)
def test_every_weight_gets_the_straight_through_gradient(kind, jit_compile):
    # The range comes from the weights, so every weight lies inside it and its
    # gradient passes unchanged -- the largest of each channel too, which sits
    # exactly on the range's edge (not widened: a symmetric range's edge is not
    # nudged, so graph mode and XLA agree on it).
    import tensorflow as tf

    make, shape, _ = LAYERS[kind]
    wrapper, kernel = built(make(), shape)

    @tf.function(jit_compile=jit_compile)
    def gradient():
        with tf.GradientTape() as tape:
            quantized = wrapper.quantized_kernel()
        return tape.gradient(quantized, wrapper.layer.kernel)

    np.testing.assert_array_equal(gradient().numpy(), np.ones_like(kernel))


def test_call_is_the_layer_on_quantized_input_and_kernel_then_quantized_output():
    rng = np.random.default_rng(1)
    layer = keras.layers.Conv2D(3, 3, strides=2, padding="same")
    wrapper = QuantizeWrapper(layer, activation="relu", quantize_inputs=True, ema_decay=0.5)
    x = rng.normal(size=(2, 8, 8, 2)).astype("float32")
    y = keras.ops.convert_to_numpy(wrapper(x, training=True))
    # Reference: Keras's own Conv2D with the quantized kernel, on the quantized input.
    widen = 1 + RANGE_MARGIN  # activation ranges are widened past the batch's extremes
    xq = fake_quant(x, x.min() * widen, x.max() * widen)
    reference = keras.layers.Conv2D(3, 3, strides=2, padding="same", activation="relu")
    reference.build(x.shape)
    reference.set_weights(
        [keras.ops.convert_to_numpy(wrapper.quantized_kernel()), keras.ops.convert_to_numpy(layer.bias)]
    )
    expected = keras.ops.convert_to_numpy(reference(xq))
    assert float(wrapper.output_range.minimum.numpy()) == 0.0
    assert float(wrapper.output_range.maximum.numpy()) == pytest.approx(expected.max() * widen, rel=1e-6)
    np.testing.assert_allclose(y, fake_quant(expected, 0.0, expected.max() * widen), atol=1e-5)


def test_ranges_move_only_in_training_and_follow_an_ema():
    wrapper = QuantizeWrapper(keras.layers.Dense(2, use_bias=False, kernel_initializer="ones"), ema_decay=0.75)
    wrapper(np.array([[1.0, 1.0]], "float32"), training=True)  # outputs 2
    wrapper(np.array([[3.0, 3.0]], "float32"), training=True)  # outputs 6
    assert float(wrapper.output_range.maximum.numpy()) == pytest.approx(0.75 * 2 + 0.25 * 6, rel=1e-3)
    wrapper(np.array([[30.0, 30.0]], "float32"), training=False)
    assert float(wrapper.output_range.maximum.numpy()) == pytest.approx(3.0, rel=1e-3)


def test_trains_under_jit_compile():
    inputs = keras.Input((4,))
    outputs = QuantizeWrapper(keras.layers.Dense(2), quantize_inputs=True)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse", jit_compile=True)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    history = model.fit(x, np.zeros((16, 2), "float32"), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    wrapper = model.layers[-1]
    assert float(wrapper.input_range.seen.numpy()) == 1.0
    assert float(wrapper.input_range.minimum.numpy()) < 0 < float(wrapper.input_range.maximum.numpy())


@pytest.mark.parametrize(
    "make, kwargs, error, match",
    [
        (lambda: keras.layers.LayerNormalization(), {}, TypeError, "layer"),
        (lambda: keras.layers.Dense(2, activation="relu"), {}, ValueError, "activation='linear'"),
        (lambda: keras.layers.Conv2D(2, 3, data_format="channels_first"), {}, ValueError, "channels_last"),
        (lambda: keras.layers.Conv2D(4, 3, groups=2), {}, ValueError, "groups"),
        (lambda: keras.layers.Dense(2), {"ema_decay": 1.0}, ValueError, "ema_decay"),
        (lambda: keras.layers.Dense(2), {"quantize_inputs": 1}, TypeError, "quantize_inputs"),
        (lambda: keras.layers.Dense(2), {"activation": keras.activations.relu}, TypeError, "activation"),
    ],
)
def test_bad_arguments_are_rejected(make, kwargs, error, match):
    with pytest.raises(error, match=match):
        QuantizeWrapper(make(), **kwargs)


def test_config_returns_constructor_arguments():
    wrapper = QuantizeWrapper(keras.layers.Dense(2), activation="relu6", quantize_inputs=True, ema_decay=0.9)
    config = wrapper.get_config()
    assert (config["activation"], config["quantize_inputs"], config["ema_decay"]) == ("relu6", True, 0.9)
    clone = QuantizeWrapper.from_config(config)
    assert clone.activation == "relu6" and clone.layer.units == 2


def test_preserve_sparsity_keeps_masked_weights_zero_through_training():
    wrapper = QuantizeWrapper(keras.layers.Dense(4), preserve_sparsity=True)
    wrapper.build((None, 6))
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(6, 4)).astype("float32")
    kernel[rng.random((6, 4)) < 0.5] = 0.0
    wrapper.layer.kernel.assign(kernel)
    wrapper.sparsity_mask.assign((kernel != 0).astype("float32"))
    wrapper.layer.kernel.assign(kernel + 0.3)  # as QAT updates would: every stored weight moves
    got = keras.ops.convert_to_numpy(wrapper.quantized_kernel())
    np.testing.assert_allclose(got, int8_symmetric((kernel + 0.3) * (kernel != 0), (0, 1)), atol=1e-6)
    assert (got[kernel == 0] == 0).all()
    assert QuantizeWrapper.from_config(wrapper.get_config()).preserve_sparsity is True
