import keras
import keras_tuner
import numpy as np
import pytest

from kerasplus.schedules import CyclicLR, OneCycle
from kerasplus.tuning import spaces


@pytest.mark.parametrize("kind, expected", [("constant", float), ("one_cycle", OneCycle), ("cyclic", CyclicLR)])
def test_learning_rate_schedule_builds_each_choice(kind, expected):
    hp = keras_tuner.HyperParameters()
    hp.Fixed("lr_schedule", kind)
    value = spaces.learning_rate_schedule(hp, steps=100)
    assert isinstance(value, expected)
    assert 1e-4 <= hp.get("learning_rate") <= 1e-1
    if kind == "cyclic":
        assert value.max_lr == pytest.approx(hp.get("learning_rate"))
        assert value.step_size_up == 100 // (2 * hp.get("cyclic_cycles"))
    if kind == "one_cycle":
        assert value.total_steps == 100 and value.max_lr == pytest.approx(hp.get("learning_rate"))
    keras.optimizers.SGD(learning_rate=value)  # usable as is


def test_component_ranges():
    hp = keras_tuner.HyperParameters()
    assert 0.1 <= spaces.mixup_alpha(hp) <= 0.4
    assert 0.0 <= spaces.focal_gamma(hp) <= 5.0
    assert 0.0 <= spaces.dropout(hp) <= 0.5
    assert set(hp.values) == {"mixup_alpha", "focal_gamma", "dropout"}
    space = {p.name: p for p in hp.space}
    assert np.isclose(space["focal_gamma"].step, 0.5) and space["mixup_alpha"].max_value == 0.4


def test_learning_rate_schedule_rejects_bad_ranges():
    with pytest.raises(ValueError, match="`min_lr` must be < `max_lr`"):
        spaces.learning_rate_schedule(keras_tuner.HyperParameters(), 100, min_lr=0.1, max_lr=0.01)
    with pytest.raises(ValueError, match="`steps` must be an integer >= 2"):
        spaces.learning_rate_schedule(keras_tuner.HyperParameters(), 1)


def test_lr_range_brackets_the_range_test_suggestion():
    from kerasplus.callbacks import LRFinderResult

    lrs = np.geomspace(1e-5, 1.0, 60)
    losses = 2.0 - np.tanh(10 * (np.log10(lrs) + 3))  # falls steepest around 1e-3, flat after
    result = LRFinderResult(lrs, losses, losses, diverged=False)
    low, high = spaces.lr_range(result)
    assert low == pytest.approx(result.suggestion_valley / 10) and high == pytest.approx(result.suggestion_valley * 3)
    capped = spaces.lr_range(result, above=1e9)[1]
    assert capped == pytest.approx(1.0)
    hp = keras_tuner.HyperParameters()
    spaces.learning_rate_schedule(hp, 100, min_lr=low, max_lr=high)
    assert low <= hp.get("learning_rate") <= high
    with pytest.raises(ValueError, match="`below` and `above` must be > 1"):
        spaces.lr_range(result, below=0.5)
