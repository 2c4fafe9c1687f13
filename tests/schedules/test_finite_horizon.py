import importlib

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kerasplus.schedules import FiniteHorizonSchedule, OneCycle, Warmup
from tests.helpers import values


class Ramp(FiniteHorizonSchedule):
    """0.1 * step up to step 10, then 1.0: a finite-horizon schedule defined outside kerasplus."""

    def __init__(self):
        super().__init__(horizon=10)

    def formula(self, step):
        return ops.minimum(ops.cast(ops.convert_to_tensor(step), "float32") * 0.1, 1.0)


def test_a_subclass_reads_its_table_and_holds_the_value_past_the_horizon():
    ramp = Ramp()
    assert ramp.horizon == 10 and ramp._table is not None and len(ramp._table) == 64  # padded, see below
    np.testing.assert_allclose(values(ramp, [0, 3, 10, 11, 10_000]), [0.0, 0.3, 1.0, 1.0, 1.0], rtol=1e-6)
    compiled = tf.function(lambda step: ramp(step), jit_compile=True)
    assert float(compiled(tf.Variable(4, dtype=tf.int64))) == np.float32(0.4)


def test_tables_of_different_horizons_share_padded_lengths_and_hold_the_last_value():
    # JAX compiles each eager op per shape: horizons 100 and 120 evaluate their formula on
    # the same 128 steps, so the second schedule reuses the first one's compilations.
    from kerasplus.schedules.finite_horizon import padded_length

    assert [padded_length(n) for n in (1, 64, 65, 101, 121, 128, 129)] == [64, 64, 128, 128, 128, 128, 256]
    short, long = OneCycle(0.1, 100), OneCycle(0.1, 120)
    assert len(short._table) == len(long._table) == 128
    for schedule in (short, long):
        horizon = schedule.horizon
        tail = schedule._table[horizon:]
        assert np.all(tail == schedule._table[horizon])
        np.testing.assert_allclose(
            values(schedule, [0, horizon // 2, horizon, horizon + 1, 10_000]),
            values_of_formula(schedule, [0, horizon // 2, horizon, horizon, horizon]),
            rtol=1e-6,
        )


def values_of_formula(schedule, steps):
    return [float(ops.convert_to_numpy(ops.cast(schedule.formula(np.array(s)), "float32"))) for s in steps]


def test_long_horizons_evaluate_the_formula(monkeypatch):
    monkeypatch.setattr(importlib.import_module("kerasplus.schedules.finite_horizon"), "TABLE_LIMIT", 5)
    ramp = Ramp()
    assert ramp._table is None
    np.testing.assert_allclose(values(ramp, [0, 3, 10, 20]), [0.0, 0.3, 1.0, 1.0], rtol=1e-6)


def test_an_unknown_horizon_evaluates_the_formula():
    class Unknown(Ramp):
        def __init__(self):
            FiniteHorizonSchedule.__init__(self, horizon=None)

    schedule = Unknown()
    assert schedule.horizon is None and schedule._table is None
    np.testing.assert_allclose(values(schedule, [2, 30]), [0.2, 1.0], rtol=1e-6)


def test_warmup_reads_the_public_horizon_of_the_schedule_it_wraps():
    assert Warmup(OneCycle(0.1, 100), 10).horizon == 111
    assert Warmup(OneCycle(0.1, 100), 10, shift_schedule=False).horizon == 101
    assert Warmup(Ramp(), 4).horizon == 14 and Warmup(Ramp(), 4)._table is not None
    assert Warmup(0.1, 7).horizon == 7
    assert Warmup(Warmup(Ramp(), 4), 3).horizon == 17
    decay = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=100)
    assert Warmup(decay, 10).horizon is None and Warmup(decay, 10)._table is None
    np.testing.assert_allclose(values(Warmup(Ramp(), 4), [2, 4, 9, 14, 50]), [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-7)
