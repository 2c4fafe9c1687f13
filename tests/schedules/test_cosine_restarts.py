import math

import keras
import numpy as np
import pytest

from kerasplus.schedules import CosineRestarts, Warmup, cosine_restarts
from tests.helpers import values


def timm_cosine(t, *, base, t_initial, lr_min=0.0, cycle_mul=1.0, cycle_decay=1.0, cycle_limit=1, k_decay=1.0,
                warmup_t=0, warmup_lr_init=0.0, warmup_prefix=False):  # fmt: skip
    """timm's ``CosineLRScheduler._get_lr(t)`` as its documentation and source write it, in float64."""
    if t < warmup_t:
        return warmup_lr_init + t * (base - warmup_lr_init) / warmup_t
    if warmup_prefix:
        t = t - warmup_t
    if cycle_mul != 1:
        i = math.floor(math.log(1 - t / t_initial * (1 - cycle_mul), cycle_mul))
        t_i = cycle_mul**i * t_initial
        t_curr = t - (1 - cycle_mul**i) / (1 - cycle_mul) * t_initial
    else:
        i = t // t_initial
        t_i = t_initial
        t_curr = t - (t_initial * i)
    lr_max = base * cycle_decay**i
    if i < cycle_limit:
        return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t_curr**k_decay / t_i**k_decay))
    return lr_min


CASES = [
    dict(t_initial=10),  # timm's defaults: one cycle, then lr_min
    dict(t_initial=10, lr_min=1e-3, cycle_limit=4),
    dict(t_initial=8, cycle_mul=2.0, cycle_decay=0.5, cycle_limit=3, lr_min=1e-4),
    dict(t_initial=7, cycle_mul=1.5, cycle_decay=0.8, cycle_limit=10**6),
    dict(t_initial=12, k_decay=2.0, cycle_limit=3, lr_min=0.01),
    dict(t_initial=12, k_decay=0.5, cycle_decay=0.9, cycle_limit=2),
]


def ours(case):
    names = dict(t_initial="cycle_steps", lr_min="min_lr")
    return CosineRestarts(0.1, **{names.get(key, key): value for key, value in case.items()})


@pytest.mark.parametrize("case", CASES, ids=[str(sorted(c.items())) for c in CASES])
def test_cosine_restarts_matches_timm_formula_at_every_step(case):
    steps = np.arange(130)
    expected = [timm_cosine(int(t), base=0.1, **case) for t in steps]
    schedule = ours(case)
    np.testing.assert_allclose(values(schedule, steps), expected, rtol=2e-6, atol=1e-9)
    np.testing.assert_allclose(values(schedule.formula, steps), expected, rtol=2e-6, atol=1e-9)


def test_every_cycle_starts_at_its_decayed_peak_even_for_large_cycles():
    """Cycle starts of cycle_mul=2 land exactly on integers, where a float32 logarithm can be off by one."""
    starts = 16 * (2 ** np.arange(12) - 1)  # up to 65,520
    rates = values(
        cosine_restarts, starts, max_lr=1.0, cycle_steps=16, cycle_mul=2.0, cycle_decay=0.9, cycle_limit=None
    )
    np.testing.assert_allclose(rates, 0.9 ** np.arange(12), rtol=1e-6)
    before = values(cosine_restarts, starts[1:] - 1, max_lr=1.0, cycle_steps=16, cycle_mul=2.0, cycle_limit=None)
    assert np.all(before < 1e-2)  # the step before a restart is the bottom of the previous cycle


def test_equals_keras_cosine_decay_restarts_where_they_overlap():
    """Keras's t_mul/m_mul are our cycle_mul/cycle_decay when the floor is 0 and cycles are unlimited."""
    keras_schedule = keras.optimizers.schedules.CosineDecayRestarts(0.1, 10, t_mul=2.0, m_mul=0.7, alpha=0.0)
    schedule = CosineRestarts(0.1, 10, cycle_mul=2.0, cycle_decay=0.7, cycle_limit=None)
    steps = np.arange(150)
    np.testing.assert_allclose(values(schedule, steps), values(keras_schedule, steps), rtol=1e-5, atol=1e-8)


def test_warmup_in_front_is_timm_warmup_prefix():
    case = dict(t_initial=10, cycle_mul=2.0, cycle_limit=2, lr_min=1e-3)
    schedule = Warmup(ours(case), warmup_steps=5, warmup_init_lr=1e-4)
    expected = [
        timm_cosine(t, base=0.1, warmup_t=5, warmup_lr_init=1e-4, warmup_prefix=True, **case) for t in range(50)
    ]
    np.testing.assert_allclose(values(schedule, np.arange(50)), expected, rtol=2e-6)


def test_cycle_limit_sets_the_horizon():
    assert CosineRestarts(0.1, 10).horizon == 10
    assert CosineRestarts(0.1, 10, cycle_mul=2.0, cycle_limit=3).horizon == 70
    assert CosineRestarts(0.1, 10, cycle_mul=1.5, cycle_limit=2).horizon == 25
    assert CosineRestarts(0.1, 10, cycle_limit=None).horizon is None


@pytest.mark.parametrize("jit_compile", [False, True])
def test_cosine_restarts_in_a_compiled_fit(jit_compile):
    from tests.helpers import applied_rates, rate_probe

    schedule = CosineRestarts(0.1, 6, cycle_mul=1.5, cycle_decay=0.5, cycle_limit=None)
    model, x, y = rate_probe(24, optimizer=keras.optimizers.SGD(schedule), jit_compile=jit_compile)
    model.fit(x, y, batch_size=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(applied_rates(model), values(schedule, np.arange(24)), rtol=1e-5, atol=1e-9)


def test_cosine_restarts_round_trips_through_keras_file(tmp_path):
    schedule = CosineRestarts(0.1, 10, cycle_mul=2.0, cycle_decay=0.5, cycle_limit=None, min_lr=1e-3, k_decay=1.5)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(learning_rate=schedule), "mse")
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras", safe_mode=True).optimizer._learning_rate
    assert isinstance(restored, CosineRestarts) and restored.get_config() == schedule.get_config()
    np.testing.assert_array_equal(values(restored, np.arange(100)), values(schedule, np.arange(100)))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(max_lr=0.0), ValueError, "`max_lr` must be > 0; received max_lr=0.0"),
        (dict(cycle_steps=0), ValueError, "`cycle_steps` must be an integer >= 1"),
        (dict(cycle_mul=0.5), ValueError, r"`cycle_mul` must be in \[1.0, "),
        (dict(cycle_decay=0.0), ValueError, r"`cycle_decay` must be in \(0.0, 1.0\]"),
        (dict(cycle_decay=1.5), ValueError, r"`cycle_decay` must be in \(0.0, 1.0\]"),
        (dict(cycle_limit=0), ValueError, "`cycle_limit` must be an integer >= 1"),
        (dict(cycle_limit=2.0), TypeError, "`cycle_limit` must be an integer"),
        (dict(min_lr=0.2), ValueError, "`min_lr` must be <= `max_lr`"),
        (dict(min_lr=-1.0), ValueError, "`min_lr` must be >= 0"),
        (dict(k_decay=0.0), ValueError, r"`k_decay` must be in \(0.0, "),
    ],
)
def test_cosine_restarts_rejects_bad_arguments(kwargs, error, message):
    arguments = dict(max_lr=0.1, cycle_steps=10)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        CosineRestarts(**arguments)
    with pytest.raises(error, match=message):
        cosine_restarts(np.arange(3), **arguments)
