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
