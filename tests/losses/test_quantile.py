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
