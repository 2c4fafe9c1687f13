import math

import keras
import numpy as np
import pytest

from kerasplus.schedules import CyclicLR, OneCycle, Warmup, warmup
from tests.helpers import values


def reference_warmup(step, warmup_steps, init, target, shape):
    t = step / warmup_steps
    if shape == "linear":
        return init + (target - init) * t
    if shape == "cos":
        return init + (target - init) * (1 - math.cos(math.pi * t)) / 2
    return init * (target / init) ** t


@pytest.mark.parametrize("shape", ["linear", "cos", "exp"])
def test_warmup_curve_matches_formula(shape):
    steps = np.arange(20)
    expected = [reference_warmup(k, 20, 1e-4, 0.1, shape) for k in steps]
    ours = values(warmup, steps, target=0.1, warmup_steps=20, warmup_init_lr=1e-4, shape=shape)
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


@pytest.mark.parametrize("shape", ["linear", "cos", "exp"])
def test_warmup_of_a_constant_reaches_it_without_a_jump(shape):
    schedule = Warmup(0.05, warmup_steps=10, warmup_init_lr=1e-3, shape=shape)
    rates = values(schedule, np.arange(30))
    assert rates[0] == pytest.approx(1e-3, rel=1e-6)
    assert np.all(np.diff(rates[:11]) > 0)
    np.testing.assert_allclose(rates[10:], 0.05, rtol=1e-7)


def test_shifted_warmup_hands_over_at_the_wrapped_schedule_step_zero():
    decay = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=90)
    schedule = Warmup(decay, warmup_steps=10)
    rates = values(schedule, np.arange(101))
    np.testing.assert_allclose(rates[:10], 0.1 * np.arange(10) / 10, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rates[10:], values(decay, np.arange(91)), rtol=1e-6)


def test_unshifted_warmup_replaces_the_first_steps_of_the_wrapped_schedule():
    inner = OneCycle(max_lr=0.2, total_steps=100)
    schedule = Warmup(inner, warmup_steps=10, warmup_init_lr=0.0, shift_schedule=False)
    rates = values(schedule, np.arange(101))
    target = values(inner, [10])[0]
    np.testing.assert_allclose(rates[:10], target * np.arange(10) / 10, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(rates[10:], values(inner, np.arange(10, 101)), rtol=1e-7)


def test_zero_warmup_steps_is_the_wrapped_schedule():
    inner = OneCycle(max_lr=0.2, total_steps=50)
    np.testing.assert_array_equal(values(Warmup(inner, warmup_steps=0), np.arange(51)), values(inner, np.arange(51)))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(warmup_steps=-1), ValueError, "`warmup_steps` must be an integer >= 0; received warmup_steps=-1"),
        (dict(shape="square"), ValueError, "`shape` must be one of 'linear', 'cos', 'exp'; received shape='square'"),
        (dict(warmup_init_lr=-0.1), ValueError, "`warmup_init_lr` must be >= 0"),
        (dict(shape="exp"), ValueError, "`warmup_init_lr` must be > 0; received warmup_init_lr=0.0"),
        (
            dict(schedule=0.0, shape="exp", warmup_init_lr=1e-3),
            ValueError,
            'shape="exp" needs the wrapped schedule to be > 0',
        ),
        (dict(schedule="fast"), TypeError, "`schedule` must be a keras LearningRateSchedule or a float"),
        (dict(shift_schedule=1), TypeError, "`shift_schedule` must be True or False"),
    ],
)
def test_warmup_rejects_bad_arguments(kwargs, error, message):
    arguments = dict(schedule=0.1, warmup_steps=10)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        Warmup(**arguments)


def test_warmup_round_trips_through_keras_file_with_a_wrapped_keras_schedule(tmp_path):
    decay = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=50, alpha=0.1)
    schedule = Warmup(decay, warmup_steps=7, warmup_init_lr=1e-3, shape="cos")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(learning_rate=schedule), "mse")
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True).optimizer._learning_rate
    assert isinstance(restored, Warmup)
    assert isinstance(restored.schedule, keras.optimizers.schedules.CosineDecay)
    steps = np.arange(70)
    np.testing.assert_array_equal(values(restored, steps), values(schedule, steps))


@pytest.mark.parametrize(
    "inner",
    [0.1, keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100), CyclicLR(0.01, 0.1, step_size_up=7)],
    ids=["constant", "cosine", "cyclic"],
)
def test_zero_warmup_steps_equals_the_wrapped_schedule_at_every_step(inner):
    steps = np.arange(0, 400, 3)
    expected = np.full(len(steps), np.float32(inner)) if isinstance(inner, float) else values(inner, steps)
    schedule = Warmup(inner, warmup_steps=0)
    np.testing.assert_array_equal(values(schedule, steps), expected)
