"""Cosine annealing with restarts (SGDR), with timm's cycle options."""

from __future__ import annotations

import functools
import math
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasplus import _validation as v
from kerasplus.schedules._anneal import anneal, as_float_step
from kerasplus.schedules.finite_horizon import FiniteHorizonSchedule


def check_cosine_restarts(max_lr, cycle_steps, cycle_mul, cycle_decay, cycle_limit, min_lr, k_decay):
    """The checks `cosine_restarts` and `CosineRestarts` share; returns the arguments as numbers."""
    max_lr = v.check_float32_positive("max_lr", max_lr)
    cycle_steps = v.check_int("cycle_steps", cycle_steps, minimum=1, maximum=v.MAX_STEPS)
    cycle_mul = v.check_range("cycle_mul", cycle_mul, 1.0, 1e6)
    cycle_decay = v.check_range("cycle_decay", cycle_decay, 0.0, 1.0, low_inclusive=False)
    cycle_limit = v.check_optional_int("cycle_limit", cycle_limit, minimum=1, maximum=v.MAX_STEPS)
    min_lr = v.check_float32_non_negative("min_lr", min_lr)
    if min_lr > max_lr:
        raise ValueError(f"`min_lr` must be <= `max_lr`; received min_lr={min_lr!r}, max_lr={max_lr!r}.")
    k_decay = v.check_range("k_decay", k_decay, 0.0, 100.0, low_inclusive=False)
    return max_lr, cycle_steps, cycle_mul, cycle_decay, cycle_limit, min_lr, k_decay


# Beyond this many cycles (a cycle_mul barely above 1) the cycle starts are computed in float32
# from the closed form (each within an ulp or so) instead of read from a table.
TABLE_CYCLES = 1 << 16


@functools.lru_cache(maxsize=64)
def _cycles(cycle_steps, cycle_mul, cycle_limit):
    """Starts (one more: the end of the last) and lengths of the cycles up to the step range, float64.

    None when ``cycle_mul == 1`` (the starts are multiples of `cycle_steps`, exact in float32)
    or when there are more than `TABLE_CYCLES` of them.
    """
    if cycle_mul == 1.0:
        return None
    starts, lengths = [0.0], []
    while starts[-1] <= v.MAX_STEPS and (cycle_limit is None or len(lengths) < cycle_limit):
        if len(lengths) == TABLE_CYCLES:
            return None
        index = len(lengths)
        lengths.append(cycle_steps * cycle_mul**index)
        starts.append(cycle_steps * (cycle_mul ** (index + 1) - 1.0) / (cycle_mul - 1.0))
    return np.array(starts, dtype="float32"), np.array(lengths, dtype="float32")


def _end_of_cycles(cycle_steps, cycle_mul, cycle_limit):
    """First step after the last cycle (None when unlimited or beyond the step range)."""
    if cycle_limit is None:
        return None
    if cycle_mul == 1.0:
        end = float(cycle_steps) * cycle_limit
    else:
        try:
            end = cycle_steps * (cycle_mul**cycle_limit - 1.0) / (cycle_mul - 1.0)
        except OverflowError:
            return None
    if not math.isfinite(end) or end > v.MAX_STEPS:
        return None
    return math.ceil(end)


def _closed_form_start(index, cycle_steps, cycle_mul):
    if cycle_mul == 1.0:
        return index * float(cycle_steps)
    return float(cycle_steps) * (ops.power(cycle_mul, index) - 1.0) / (cycle_mul - 1.0)


def _locate(step, cycle_steps, cycle_mul, table):
    """Cycle number (float32), its first step and its length for each `step`."""
    if cycle_mul == 1.0:
        index = ops.floor(step / float(cycle_steps))
    else:
        index = ops.floor(ops.log(1.0 + step * ((cycle_mul - 1.0) / cycle_steps)) / math.log(cycle_mul))
    if table is None:
        start = lambda i: _closed_form_start(i, cycle_steps, cycle_mul)  # noqa: E731
        last = None
    else:
        starts, lengths = table
        last = float(len(lengths) - 1)
        index = ops.clip(index, 0.0, last)
        start = lambda i: ops.take(starts, ops.cast(i, "int32"))  # noqa: E731
    # The closed form can land one cycle off next to a cycle start: correct it.
    index = ops.where(step < start(index), index - 1.0, index)
    if last is not None:
        index = ops.clip(index, 0.0, last)
    index = ops.where(step >= start(index + 1.0), index + 1.0, index)
    if last is not None:
        index = ops.clip(index, 0.0, last)
        return index, start(index), ops.take(lengths, ops.cast(index, "int32"))
    length = float(cycle_steps) * ops.power(cycle_mul, index) if cycle_mul != 1.0 else float(cycle_steps)
    return index, start(index), length


def cosine_restarts(
    step: Any,
    *,
    max_lr: float,
    cycle_steps: int,
    cycle_mul: float = 1.0,
    cycle_decay: float = 1.0,
    cycle_limit: int | None = 1,
    min_lr: float = 0.0,
    k_decay: float = 1.0,
) -> Any:
    """Rate at `step` of timm's ``CosineLRScheduler`` (without its warm-up: wrap in `Warmup`).

    Cycle ``i`` (from 0) lasts ``cycle_steps * cycle_mul ** i`` steps and starts
    at its peak ``max_lr * cycle_decay ** i``; inside it, after ``t`` of its
    ``T_i`` steps, the rate is
    ``min_lr + (peak - min_lr) / 2 * (1 + cos(pi * t ** k_decay / T_i ** k_decay))``.
    After `cycle_limit` cycles the rate stays at `min_lr` (None: it restarts
    forever). These are timm's formulas with its names (``t_initial`` is
    `cycle_steps`, ``lr_min`` is `min_lr`) and its defaults: with
    ``cycle_limit=1`` it is a single cosine decay.

    The cycle number is found from the closed form (a logarithm when
    ``cycle_mul > 1``) and then corrected against the cycle starts, so a step
    that is the first of a cycle always lands in that cycle, in float32 too.
    With ``cycle_mul > 1`` the starts and lengths of the cycles are computed
    once in float64 and read from a table (up to 65,536 cycles; beyond, from
    float32 powers, which can be an ulp off), so the step inside a cycle is
    exact and the bottom of each cycle keeps its digits.

    Args:
        step: optimizer steps taken, a scalar or an array of steps.
        max_lr: peak rate of the first cycle, > 0.
        cycle_steps: length of the first cycle in steps, >= 1.
        cycle_mul: growth factor of each cycle's length, >= 1.
        cycle_decay: factor of each cycle's peak, in (0, 1].
        cycle_limit: number of cycles, >= 1, or None for no limit.
        min_lr: the rate each cycle ends at, and the rate after the last one,
            in [0, max_lr].
        k_decay: timm's ``k_decay``, the power of the step inside the cosine,
            > 0 (1 is the plain cosine).

    Returns:
        The rate, a float32 tensor of the shape of `step`.

    Raises:
        ValueError: an argument is out of its range.
        TypeError: an argument has the wrong type.

    Example:

    >>> import kerasplus
    >>> rates = kerasplus.schedules.cosine_restarts([0, 5, 10, 20], max_lr=0.1, cycle_steps=10, cycle_limit=None)
    >>> [round(float(rate), 6) for rate in rates]
    [0.1, 0.05, 0.1, 0.1]
    """
    max_lr, cycle_steps, cycle_mul, cycle_decay, cycle_limit, min_lr, k_decay = check_cosine_restarts(
        max_lr, cycle_steps, cycle_mul, cycle_decay, cycle_limit, min_lr, k_decay
    )
    step = ops.maximum(as_float_step(step), 0.0)
    index, start, length = _locate(step, cycle_steps, cycle_mul, _cycles(cycle_steps, cycle_mul, cycle_limit))
    inside = step - start
    if k_decay == 1.0:
        done, left = inside / length, (length - inside) / length
    else:
        scale = ops.power(length, k_decay)
        done = ops.power(inside, k_decay) / scale
        left = (scale - ops.power(inside, k_decay)) / scale
    peak = max_lr * ops.power(cycle_decay, index) if cycle_decay != 1.0 else max_lr
    # timm's min_lr + (peak - min_lr) / 2 * (1 + cos(pi * done)), anchored at the nearer end
    # (the fraction left is exact from step counts, so the bottom of a cycle keeps its digits).
    rate = anneal(peak, min_lr, done, left, "cos")
    end = _end_of_cycles(cycle_steps, cycle_mul, cycle_limit)
    if end is not None:
        rate = ops.where(step < float(end), rate, min_lr)
    return ops.cast(rate, "float32")


@keras.saving.register_keras_serializable(package="kerasplus")
class CosineRestarts(FiniteHorizonSchedule):
    """Cosine annealing with warm restarts, with timm's ``cycle_mul``, ``cycle_decay`` and ``cycle_limit``.

    The schedule of timm's ``CosineLRScheduler`` step for step (see
    `cosine_restarts` for the formula). Keras's ``CosineDecayRestarts`` has
    ``t_mul`` (our `cycle_mul`) and ``m_mul`` (our `cycle_decay`) but no limit
    on the number of cycles, and its floor ``alpha * initial_learning_rate``
    decays with each peak, where timm's `min_lr` is fixed. For timm's warm-up,
    wrap it: ``Warmup(CosineRestarts(...), warmup_steps, warmup_init_lr)`` is
    timm's ``warmup_prefix=True`` step for step. timm's default
    (``warmup_prefix=False``: the cosine counts from step 0, warm-up rises to
    `max_lr` and then drops to the cosine's value) has no counterpart here:
    ``shift_schedule=False`` rises to the cosine's value instead, without the
    drop.

    With a `cycle_limit` the rate is `min_lr` from the end of the last cycle
    on, and the curve is tabulated (see `FiniteHorizonSchedule`).

    Args:
        max_lr: peak rate of the first cycle, > 0.
        cycle_steps: length of the first cycle in steps, >= 1.
        cycle_mul: growth factor of each cycle's length, >= 1.
        cycle_decay: factor of each cycle's peak, in (0, 1].
        cycle_limit: number of cycles, >= 1, or None for no limit.
        min_lr: the rate each cycle ends at, and the rate after the last one,
            in [0, max_lr].
        k_decay: power of the step inside the cosine, > 0.

    Example:

    >>> import kerasplus
    >>> schedule = kerasplus.schedules.CosineRestarts(0.1, cycle_steps=10, cycle_mul=2.0, cycle_decay=0.5, cycle_limit=2)
    >>> [round(float(schedule(step)), 6) for step in (0, 10, 20, 30, 1000)]
    [0.1, 0.05, 0.025, 0.0, 0.0]
    """

    def __init__(
        self,
        max_lr: float,
        cycle_steps: int,
        cycle_mul: float = 1.0,
        cycle_decay: float = 1.0,
        cycle_limit: int | None = 1,
        min_lr: float = 0.0,
        k_decay: float = 1.0,
    ) -> None:
        (
            self.max_lr,
            self.cycle_steps,
            self.cycle_mul,
            self.cycle_decay,
            self.cycle_limit,
            self.min_lr,
            self.k_decay,
        ) = check_cosine_restarts(max_lr, cycle_steps, cycle_mul, cycle_decay, cycle_limit, min_lr, k_decay)
        super().__init__(horizon=_end_of_cycles(self.cycle_steps, self.cycle_mul, self.cycle_limit))

    def formula(self, step: Any) -> Any:
        return cosine_restarts(step, **self.get_config())

    def get_config(self) -> dict:
        return {
            "max_lr": self.max_lr,
            "cycle_steps": self.cycle_steps,
            "cycle_mul": self.cycle_mul,
            "cycle_decay": self.cycle_decay,
            "cycle_limit": self.cycle_limit,
            "min_lr": self.min_lr,
            "k_decay": self.k_decay,
        }
