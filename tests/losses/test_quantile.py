import keras
import numpy as np
import pytest

from kerasplus.losses import Quantile


@pytest.mark.parametrize("quantile", [0.1, 0.5, 0.9])
def test_pinball_loss_matches_numpy(quantile):
    rng = np.random.default_rng(4)
    y, f = rng.normal(size=(10, 3)), rng.normal(size=(10, 3))
    error = y - f
    expected = np.maximum(quantile * error, (quantile - 1) * error).mean()
    assert float(Quantile(quantile)(y, f)) == pytest.approx(expected, rel=1e-6)


def test_rejects_quantiles_outside_the_open_unit_interval():
    with pytest.raises(ValueError, match=r"`quantile` must be in \(0.0, 1.0\); received quantile=1.0"):
        Quantile(1.0)


def test_labels_without_the_trailing_unit_axis_do_not_broadcast():
    # what fit passes for a one-unit output: y (N,) against y_pred (N, 1); Keras's MAE agrees.
    y, f = np.array([1.0, 0.0, 2.0]), np.array([[0.5], [0.5], [0.5]])
    assert float(Quantile(0.5)(y, f)) == pytest.approx(0.5 * float(keras.losses.MeanAbsoluteError()(y, f)))
    with pytest.raises(ValueError, match=r"`axis` is out of range for y_pred of shape \(3, 1\)"):
        Quantile(axis=2)(y, f)
    with pytest.raises(ValueError, match=r"y_pred's shape \(3, 1\); received y_true of shape \(4,\)"):
        Quantile()(np.zeros(4), f)
