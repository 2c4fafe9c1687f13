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
