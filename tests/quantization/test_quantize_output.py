import keras
import numpy as np
import pytest

from kerasplus.quantization import QuantizeOutput
from kerasplus.quantization._fake_quant import RANGE_MARGIN

WIDEN = 1 + RANGE_MARGIN  # activation ranges are widened past the batch's extremes


def test_output_range_is_first_batch_then_moving_average():
    layer = QuantizeOutput(keras.layers.Add(), ema_decay=0.5)
    a = np.array([[1.0, -2.0]], "float32")
    layer([a, a], training=True)  # sum in [-4, 2]
    assert float(layer.output_range.minimum.numpy()) == pytest.approx(-4.0 * WIDEN, rel=1e-7)
    assert float(layer.output_range.maximum.numpy()) == pytest.approx(2.0 * WIDEN, rel=1e-7)
    layer([a * 0.5, a * 0.5], training=True)  # sum in [-2, 1]
    assert float(layer.output_range.minimum.numpy()) == pytest.approx((0.5 * -4 + 0.5 * -2) * WIDEN, rel=1e-7)
    assert float(layer.output_range.maximum.numpy()) == pytest.approx((0.5 * 2 + 0.5 * 1) * WIDEN, rel=1e-7)
    layer([a * 9, a * 9], training=False)  # inference leaves the range alone
    assert float(layer.output_range.maximum.numpy()) == pytest.approx(1.5 * WIDEN, rel=1e-7)


def test_output_is_fake_quantized_to_256_levels_of_the_range():
    layer = QuantizeOutput(keras.layers.GlobalAveragePooling2D())
    x = np.random.default_rng(0).uniform(0, 1, size=(4, 3, 3, 2)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    step = (float(layer.output_range.maximum.numpy()) - 0.0) / 255  # range starts at 0: x >= 0
    np.testing.assert_allclose(y / step, np.round(y / step), atol=1e-3)
    np.testing.assert_allclose(y, x.mean(axis=(1, 2)), atol=step / 2 + 1e-6)


def test_bad_ema_decay_rejected_and_config_round_trips():
    with pytest.raises(ValueError, match="ema_decay"):
        QuantizeOutput(keras.layers.Add(), ema_decay=1.5)
    layer = QuantizeOutput(keras.layers.Add(), ema_decay=0.9)
    clone = QuantizeOutput.from_config(layer.get_config())
    assert clone.ema_decay == 0.9 and isinstance(clone.layer, keras.layers.Add)


def test_fused_relu_is_applied_before_the_range_and_bad_activation_rejected():
    layer = QuantizeOutput(keras.layers.Add(), activation="relu6")
    a = np.array([[4.0, -2.0]], "float32")
    y = keras.ops.convert_to_numpy(layer([a, a], training=True))
    assert float(layer.output_range.minimum.numpy()) == 0.0
    np.testing.assert_allclose(y, [[6.0, 0.0]], atol=6 / 255)
    assert QuantizeOutput.from_config(layer.get_config()).fused_activation == "relu6"
    with pytest.raises(ValueError, match="`activation` must be one of 'linear', 'relu', 'relu6'"):
        QuantizeOutput(keras.layers.Add(), activation="gelu")


def test_softmax_and_sigmoid_end_on_tflites_fixed_grid_at_inference():
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    for layer, reference in (
        (keras.layers.Softmax(), keras.ops.softmax(x)),
        (keras.layers.Activation("sigmoid"), keras.ops.sigmoid(x)),
    ):
        wrapped = QuantizeOutput(layer)
        y = keras.ops.convert_to_numpy(wrapped(x, training=False))
        assert wrapped.output_range is None  # fixed range: nothing learned
        np.testing.assert_allclose(y * 256, np.round(y * 256), atol=1e-4)  # scale 1/256, zero point -128
        np.testing.assert_allclose(y, keras.ops.convert_to_numpy(reference), atol=0.5 / 256 + 1e-6)
        np.testing.assert_allclose(  # training sees the unrounded value (a saturated output keeps its gradient)
            keras.ops.convert_to_numpy(wrapped(x, training=True)), keras.ops.convert_to_numpy(reference), atol=1e-6
        )
