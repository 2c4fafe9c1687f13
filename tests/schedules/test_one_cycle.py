import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasplus.schedules import (
    FiniteHorizonSchedule,
    OneCycle,
    OneCycleMomentum,
    one_cycle,
    one_cycle_momentum,
)
from tests.helpers import torch_curve, values


@pytest.mark.parametrize("anneal_strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize(
    "total_steps, pct_start, div_factor, final_div_factor",
    [(100, 0.3, 25.0, 1e4), (37, 0.3, 10.0, 100.0), (1000, 0.25, 25.0, 1e4), (57, 0.45, 5.0, 1e3)],
)
@pytest.mark.parametrize("tabulated", [True, False])
def test_one_cycle_matches_torch_at_every_step(
    anneal_strategy, three_phase, total_steps, pct_start, div_factor, final_div_factor, tabulated, monkeypatch
):
    if not tabulated:  # the formula path that very long cycles take
        monkeypatch.setattr(importlib.import_module("kerasplus.schedules.finite_horizon"), "TABLE_LIMIT", 0)
    kwargs = dict(
        max_lr=0.5,
        pct_start=pct_start,
        anneal_strategy=anneal_strategy,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        three_phase=three_phase,
    )
    rates, momenta = torch_curve(
        "OneCycleLR", total_steps, total_steps=total_steps, base_momentum=0.85, max_momentum=0.95, **kwargs
    )
    steps = np.arange(total_steps + 1)
    # At step == total_steps torch extrapolates the last phase (below 0 for "linear"); a rate stays >= 0.
    rates = np.maximum(rates, 0.0)
    ours = values(one_cycle, steps, total_steps=total_steps, **kwargs)
    np.testing.assert_allclose(ours, rates, rtol=1e-6, atol=0)
    schedule = OneCycle(total_steps=total_steps, **kwargs)
    assert (schedule._table is not None) == tabulated
    np.testing.assert_allclose(values(schedule, steps), rates, rtol=1e-6, atol=0)
    ours_momentum = values(
        one_cycle_momentum,
        steps,
        total_steps=total_steps,
        base_momentum=0.85,
        max_momentum=0.95,
        pct_start=pct_start,
        anneal_strategy=anneal_strategy,
        three_phase=three_phase,
    )
    np.testing.assert_allclose(ours_momentum, momenta, rtol=1e-6, atol=0)
    momentum = OneCycleMomentum(
        total_steps=total_steps,
        base_momentum=0.85,
        max_momentum=0.95,
        pct_start=pct_start,
        anneal_strategy=anneal_strategy,
        three_phase=three_phase,
    )
    assert (momentum._table is not None) == tabulated
    np.testing.assert_allclose(values(momentum, steps), momenta, rtol=1e-6, atol=0)


def test_one_cycle_holds_final_rate_past_total_steps():
    schedule = OneCycle(max_lr=1.0, total_steps=50)
    past = values(schedule, [51, 60, 10_000])
    np.testing.assert_allclose(past, 1.0 / 25.0 / 1e4, rtol=1e-6)


def test_one_cycle_accepts_int64_optimizer_steps_under_xla():
    schedule = OneCycle(max_lr=0.2, total_steps=40)
    compiled = tf.function(lambda step: schedule(step), jit_compile=True)
    step = tf.Variable(13, dtype=tf.int64)
    assert float(compiled(step)) == pytest.approx(float(schedule(13)), rel=1e-7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_lr=0.0), "`max_lr` must be > 0; received max_lr=0.0"),
        (dict(max_lr=-1.0), "`max_lr` must be > 0"),
        (dict(total_steps=0), "`total_steps` must be an integer >= 1; received total_steps=0"),
        (dict(pct_start=0.0), r"`pct_start` must be in \(0.0, 1.0\); received pct_start=0.0"),
        (dict(pct_start=1.0), r"`pct_start` must be in \(0.0, 1.0\)"),
        (dict(div_factor=0.0), "`div_factor` must be > 0; received div_factor=0.0"),
        (dict(final_div_factor=-2.0), "`final_div_factor` must be > 0"),
        (
            dict(anneal_strategy="exp"),
            "`anneal_strategy` must be one of 'cos', 'linear'; received anneal_strategy='exp'",
        ),
        (dict(total_steps=3), "`total_steps` and `pct_start` must give every phase of the cycle a positive length"),
        (dict(three_phase=True, pct_start=0.6), "pct_start < 0.5"),
    ],
)
def test_one_cycle_rejects_bad_arguments(kwargs, message):
    arguments = dict(max_lr=0.1, total_steps=100)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        OneCycle(**arguments)


def test_one_cycle_rejects_non_integer_total_steps():
    with pytest.raises(TypeError, match="`total_steps` must be an integer"):
        OneCycle(max_lr=0.1, total_steps=10.5)


def test_one_cycle_round_trips_through_keras_file(tmp_path):
    schedule = OneCycle(max_lr=0.3, total_steps=120, pct_start=0.25, anneal_strategy="linear", three_phase=True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(learning_rate=schedule), "mse")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    restored = loaded.optimizer._learning_rate
    assert isinstance(restored, OneCycle)
    assert restored.get_config() == schedule.get_config()
    steps = np.arange(0, 121, 7)
    np.testing.assert_array_equal(values(restored, steps), values(schedule, steps))


def test_one_cycle_schedules_are_finite_horizon_and_hold_past_it():
    rate = OneCycle(max_lr=1.0, total_steps=50)
    momentum = OneCycleMomentum(total_steps=50, base_momentum=0.8, max_momentum=0.9)
    assert isinstance(rate, FiniteHorizonSchedule) and isinstance(momentum, FiniteHorizonSchedule)
    assert rate.horizon == momentum.horizon == 51
    np.testing.assert_allclose(values(momentum, [51, 60, 10_000]), 0.9, rtol=1e-7)


@pytest.mark.parametrize("base_momentum, max_momentum", [(0.85, 0.95), (0.0, 0.99), (0.9, 0.9)])
def test_one_cycle_momentum_matches_torch_for_other_momentum_ranges(base_momentum, max_momentum):
    _, momenta = torch_curve(
        "OneCycleLR", 40, max_lr=0.1, total_steps=40, base_momentum=base_momentum, max_momentum=max_momentum
    )
    schedule = OneCycleMomentum(total_steps=40, base_momentum=base_momentum, max_momentum=max_momentum)
    np.testing.assert_allclose(values(schedule, np.arange(41)), momenta, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(total_steps=0), "`total_steps` must be an integer >= 1; received total_steps=0"),
        (dict(base_momentum=-0.1), r"`base_momentum` must be in \[0.0, 1.0\)"),
        (dict(max_momentum=1.0), r"`max_momentum` must be in \[0.0, 1.0\); received max_momentum=1.0"),
        (dict(base_momentum=0.96), "`base_momentum` must be <= `max_momentum`"),
        (dict(pct_start=0.0), r"`pct_start` must be in \(0.0, 1.0\)"),
        (dict(anneal_strategy="exp"), "`anneal_strategy` must be one of 'cos', 'linear'"),
        (dict(total_steps=3), "`total_steps` and `pct_start` must give every phase of the cycle a positive length"),
        (dict(three_phase=True, pct_start=0.6), "pct_start < 0.5"),
    ],
)
def test_one_cycle_momentum_rejects_bad_arguments(kwargs, message):
    arguments = dict(total_steps=100)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        OneCycleMomentum(**arguments)


@pytest.mark.parametrize("kwargs", [dict(total_steps=10.5), dict(total_steps=None), dict(three_phase=1)])
def test_one_cycle_momentum_rejects_wrong_types(kwargs):
    arguments = dict(total_steps=100)
    arguments.update(kwargs)
    with pytest.raises(TypeError):
        OneCycleMomentum(**arguments)


def test_one_cycle_momentum_round_trips_through_serialize_and_keras_file(tmp_path):
    schedule = OneCycleMomentum(
        total_steps=120, base_momentum=0.8, max_momentum=0.9, pct_start=0.25, anneal_strategy="linear", three_phase=True
    )
    config = keras.saving.serialize_keras_object(schedule)
    assert config["registered_name"] == "kerasplus>OneCycleMomentum"
    again = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert isinstance(again, OneCycleMomentum) and again.get_config() == schedule.get_config()
    # In a .keras file, as what an optimizer's learning_rate holds (a serializable schedule).
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(learning_rate=schedule), "mse")
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras", safe_mode=True).optimizer._learning_rate
    assert isinstance(restored, OneCycleMomentum)
    assert restored.get_config() == schedule.get_config()
    steps = np.arange(0, 125, 7)
    np.testing.assert_array_equal(values(restored, steps), values(schedule, steps))
