"""Schedules one after another (Optax's ``join_schedules``, torch's ``SequentialLR``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.schedules._anneal import as_float_step
from kerasplus.schedules.finite_horizon import FiniteHorizonSchedule


def _check_schedules(schedules):
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence) or not schedules:
        raise TypeError(
            "`schedules` must be a non-empty list of keras LearningRateSchedules or float rates; "
            f"received schedules={schedules!r} of type {type(schedules).__name__}."
        )
    checked = []
    for index, schedule in enumerate(schedules):
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            checked.append(schedule)
        elif isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
            checked.append(v.check_float32_non_negative(f"schedules[{index}]", schedule))
        else:
            raise TypeError(
                f"`schedules[{index}]` must be a keras LearningRateSchedule or a float rate; "
                f"received schedules[{index}]={schedule!r} of type {type(schedule).__name__}."
            )
    return checked


def _check_boundaries(boundaries, count):
    if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Sequence):
        raise TypeError(
            f"`boundaries` must be a list of {count - 1} increasing step counts (one fewer than `schedules`); "
            f"received boundaries={boundaries!r} of type {type(boundaries).__name__}."
        )
    if len(boundaries) != count - 1:
        raise ValueError(
            f"`boundaries` must hold one step count fewer than `schedules` ({count - 1} for {count} "
            f"schedules); received boundaries={list(boundaries)!r}."
        )
    checked = []
    for index, boundary in enumerate(boundaries):
        boundary = v.check_int(f"boundaries[{index}]", boundary, minimum=1, maximum=v.MAX_STEPS)
        if checked and boundary <= checked[-1]:
            raise ValueError(
                "`boundaries` must be strictly increasing (every schedule runs at least one step); "
                f"received boundaries={list(boundaries)!r}."
            )
        checked.append(boundary)
    return checked


def _value(schedule, step):
    if isinstance(schedule, float):
        return ops.full(ops.shape(step), schedule, dtype="float32")
    return ops.cast(schedule(step), "float32")


def _horizon(schedule):
    if isinstance(schedule, float):
        return 0
    if isinstance(schedule, FiniteHorizonSchedule):
        return schedule.horizon
    return None


@keras.saving.register_keras_serializable(package="kerasplus")
class Join(FiniteHorizonSchedule):
    """Several schedules one after another, each counting its steps from its own start.

    Schedule ``k`` runs from step ``boundaries[k - 1]`` (0 for the first) up to,
    not including, ``boundaries[k]``, and sees ``step - boundaries[k - 1]``: at
    a boundary the next schedule is at its own step 0. That is Optax's
    ``join_schedules`` exactly, and torch's ``SequentialLR`` for every torch
    scheduler with a closed form (``LinearLR``, ``CosineAnnealingLR``,
    ``ExponentialLR``, ``StepLR``, ``PolynomialLR``, ...), which ``SequentialLR``
    restarts with ``last_epoch = 0`` at its milestone. (A chainable scheduler
    without a closed form, ``MultiplicativeLR``, instead continues from the
    rate the previous one left; each Keras schedule owns its initial rate, so
    there is no counterpart.) Nothing smooths a jump at a boundary: join a
    `Warmup` and a decay that starts at the warm-up's target.

    The choice is made in the graph with ``ops.where`` (every schedule is
    evaluated, each at ``max(step - start, 0)``), so it works under
    ``jit_compile=True`` and on every backend. When every schedule is a
    constant or a finite-horizon kerasplus schedule, the whole curve is
    tabulated (see `FiniteHorizonSchedule`).

    Args:
        schedules: a non-empty list of `LearningRateSchedule`s or constant
            float rates (>= 0).
        boundaries: the steps where the next schedule takes over, strictly
            increasing integers >= 1, one fewer than `schedules`.

    Example:

    >>> import keras, kerasplus
    >>> warm = kerasplus.schedules.Warmup(0.1, warmup_steps=10)
    >>> decay = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=90)
    >>> schedule = kerasplus.schedules.Join([warm, decay], boundaries=[10])
    >>> [round(float(schedule(step)), 6) for step in (5, 10, 55, 100)]
    [0.05, 0.1, 0.05, 0.0]
    """

    def __init__(
        self,
        schedules: Sequence[keras.optimizers.schedules.LearningRateSchedule | float],
        boundaries: Sequence[int],
    ) -> None:
        self.schedules = _check_schedules(schedules)
        self.boundaries = _check_boundaries(boundaries, len(self.schedules))
        horizons = [_horizon(schedule) for schedule in self.schedules]
        horizon = None
        if all(h is not None for h in horizons):
            horizon = ([0] + self.boundaries)[-1] + horizons[-1]
        super().__init__(horizon=horizon)

    def formula(self, step: Any) -> Any:
        step = as_float_step(step)
        result = _value(self.schedules[0], step)
        for boundary, schedule in zip(self.boundaries, self.schedules[1:]):
            after = _value(schedule, ops.maximum(step - float(boundary), 0.0))
            result = ops.where(step < float(boundary), result, after)
        return result

    def get_config(self) -> dict:
        return {
            "schedules": [
                s if isinstance(s, float) else keras.saving.serialize_keras_object(s) for s in self.schedules
            ],
            "boundaries": list(self.boundaries),
        }

    @classmethod
    def from_config(cls, config: dict) -> Join:
        config = dict(config)
        config["schedules"] = [
            keras.saving.deserialize_keras_object(s) if isinstance(s, dict) else s for s in config["schedules"]
        ]
        return cls(**config)


def join(
    schedules: Sequence[keras.optimizers.schedules.LearningRateSchedule | float], boundaries: Sequence[int]
) -> Join:
    """`Join` under Optax's name: ``join(schedules, boundaries)`` is ``Join(schedules, boundaries)``.

    Args:
        schedules: a non-empty list of `LearningRateSchedule`s or constant
            float rates (>= 0).
        boundaries: the steps where the next schedule takes over, strictly
            increasing integers >= 1, one fewer than `schedules`.

    Returns:
        A `Join` schedule.

    Example:

    >>> import kerasplus
    >>> schedule = kerasplus.schedules.join([0.1, 0.01], boundaries=[100])
    >>> round(float(schedule(99)), 6), round(float(schedule(100)), 6)
    (0.1, 0.01)
    """
    return Join(schedules, boundaries)
