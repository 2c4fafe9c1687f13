import math

import keras
import numpy as np
import pytest

from kerasplus.schedules import CosineRestarts, CyclicLR, Join, OneCycle, Warmup, join
from tests.helpers import applied_rates, rate_probe, values


def optax_join(functions, boundaries, step):
    """Optax's ``join_schedules``, in numpy: each later function sees ``step - boundary``."""
    out = functions[0](step)
    for boundary, function in zip(boundaries, functions[1:]):
        out = np.where(step < boundary, out, function(step - boundary))
    return out


def numpy_linear_warmup(init, target, steps):
    return lambda s: np.where(s < steps, init + (target - init) * np.minimum(s, steps) / steps, target)


def numpy_cosine_decay(initial, decay_steps, alpha):
    def f(s):
        s = np.minimum(s, decay_steps)
        return initial * ((1 - alpha) * 0.5 * (1 + np.cos(math.pi * s / decay_steps)) + alpha)

    return f


def three_phases():
    return Join(
        [
            Warmup(0.1, warmup_steps=5, warmup_init_lr=0.01),
            keras.optimizers.schedules.CosineDecay(0.1, decay_steps=20, alpha=0.01),
            keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.9),
        ],
        boundaries=[5, 25],
    )


def test_join_matches_optax_join_schedules_at_every_step():
    steps = np.arange(60, dtype=np.float64)
    expected = optax_join(
        [numpy_linear_warmup(0.01, 0.1, 5), numpy_cosine_decay(0.1, 20, 0.01), lambda s: 0.1 * 0.9**s],
        [5, 25],
        steps,
    )
    np.testing.assert_allclose(values(three_phases(), steps), expected, rtol=2e-6)


def test_join_matches_torch_sequential_lr_at_every_step():
    """torch restarts each scheduler at its milestone with last_epoch=0 (closed form): step - milestone."""
    import torch

    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    lr_scheduler = torch.optim.lr_scheduler
    sequential = lr_scheduler.SequentialLR(
        optimizer,
        [
            lr_scheduler.LinearLR(optimizer, start_factor=0.1, end_factor=1.0, total_iters=5),
            lr_scheduler.CosineAnnealingLR(optimizer, T_max=20, eta_min=0.001),
            lr_scheduler.ExponentialLR(optimizer, gamma=0.9),
        ],
        milestones=[5, 25],
    )
    torch_rates = [optimizer.param_groups[0]["lr"]]
    for _ in range(59):
        optimizer.step()
        sequential.step()
        torch_rates.append(optimizer.param_groups[0]["lr"])
    np.testing.assert_allclose(values(three_phases(), np.arange(60)), torch_rates, rtol=2e-6)


def test_join_hands_over_exactly_at_each_boundary():
    first = CyclicLR(0.01, 0.1, step_size_up=3)
    second = OneCycle(0.2, total_steps=10)
    schedule = join([first, second, 0.003], boundaries=[7, 17])
    rates = values(schedule, np.arange(25))
    np.testing.assert_array_equal(rates[:7], values(first, np.arange(7)))
    np.testing.assert_array_equal(rates[7:17], values(second, np.arange(10)))
    np.testing.assert_array_equal(rates[17:], np.float32(0.003))
    assert schedule.horizon is None  # CyclicLR never settles: the formula is evaluated


def test_tabulated_join_equals_its_formula():
    schedule = Join([Warmup(0.1, warmup_steps=4), CosineRestarts(0.1, 6, cycle_limit=3)], [4])
    assert schedule.horizon == 4 + 18
    steps = np.arange(40)
    np.testing.assert_array_equal(values(schedule, steps), values(schedule.formula, steps))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_join_drives_fit_in_the_compiled_step(jit_compile):
    schedule = three_phases()
    model, x, y = rate_probe(
        30,
        optimizer=keras.optimizers.SGD(schedule),
        jit_compile=jit_compile,
        steps_per_execution=4 if jit_compile else 1,
    )
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0)
    # the scalar step in the graph and the vector of steps round cos differently in float32 (~1 ulp)
    np.testing.assert_allclose(applied_rates(model), values(schedule, np.arange(30)), rtol=1e-5)


def test_join_round_trips_through_keras_file(tmp_path):
    schedule = three_phases()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(learning_rate=schedule), "mse")
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True).optimizer._learning_rate
    assert isinstance(restored, Join) and restored.boundaries == [5, 25]
    steps = np.arange(40)
    np.testing.assert_array_equal(values(restored, steps), values(schedule, steps))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(schedules=[]), TypeError, "`schedules` must be a non-empty list"),
        (dict(schedules="0.1"), TypeError, "`schedules` must be a non-empty list"),
        (dict(schedules=[0.1, "x"]), TypeError, r"`schedules\[1\]` must be a keras LearningRateSchedule"),
        (dict(schedules=[0.1, -1.0]), ValueError, r"`schedules\[1\]` must be >= 0"),
        (dict(boundaries=[]), ValueError, "`boundaries` must hold one step count fewer"),
        (dict(boundaries=5), TypeError, "`boundaries` must be a list"),
        (dict(boundaries=[0]), ValueError, r"`boundaries\[0\]` must be an integer >= 1"),
        (dict(boundaries=[2.5]), TypeError, r"`boundaries\[0\]` must be an integer"),
        (dict(schedules=[0.1, 0.2, 0.3], boundaries=[5, 5]), ValueError, "strictly increasing"),
    ],
)
def test_join_rejects_bad_arguments(kwargs, error, message):
    arguments = dict(schedules=[0.1, 0.01], boundaries=[10])
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        Join(**arguments)


def test_a_join_of_one_schedule_is_that_schedule():
    decay = keras.optimizers.schedules.CosineDecay(0.1, 20, 0.01)
    np.testing.assert_array_equal(values(Join([decay], []), np.arange(30)), values(decay, np.arange(30)))
