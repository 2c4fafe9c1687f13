"""The 1cycle policy (Smith & Topin 2018), step for step as torch's OneCycleLR."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.schedules._anneal import ANNEAL_STRATEGIES, anneal, as_float_step
from kerasplus.schedules.finite_horizon import FiniteHorizonSchedule


def _phase_ends(total_steps: int, pct_start: float, three_phase: bool):
    # The same floats torch.optim.lr_scheduler.OneCycleLR uses as `end_step`.
    if three_phase:
        return (
            float(pct_start * total_steps) - 1,
            float(2 * pct_start * total_steps) - 2,
            float(total_steps) - 1,
        )
    return (float(pct_start * total_steps) - 1, float(total_steps) - 1)


def _minus(boundary: float, step):
    """``boundary - step`` without rounding `boundary` (e.g. 20.2) to float32 first."""
    whole = math.floor(boundary)
    return (whole - step) + (boundary - whole)


def _piecewise(step, ends, values, strategy, hold, total_steps):
    """torch's phase walk: the first phase with ``step <= end`` (else the last)."""
    step = as_float_step(step)
    starts = (0.0,) + tuple(ends[:-1])
    pieces = []
    for start, end, v0, v1 in zip(starts, ends, values[:-1], values[1:]):
        length = end - start
        pct = -_minus(start, step) / length
        remaining = _minus(end, step) / length
        pieces.append(anneal(v0, v1, pct, remaining, strategy))
    result = pieces[-1]
    for end, piece in zip(reversed(ends[:-1]), reversed(pieces[:-1])):
        result = ops.where(step <= end, piece, result)
    return ops.where(step > total_steps, ops.cast(hold, "float32"), result)


def check_cycle(pct_start, anneal_strategy, three_phase, total_steps=None):
    """Checks of the cycle's shape shared by `OneCycle`, `OneCycleMomentum` and `OneCycleLR`.

    Every phase must have a positive length, which is checked once `total_steps`
    is known (the callback may learn it only when `fit` starts). Returns the
    validated ``(pct_start, total_steps)``.
    """
    total_steps = v.check_optional_int("total_steps", total_steps, minimum=1, maximum=v.MAX_STEPS)
    pct_start = v.check_range("pct_start", pct_start, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    v.check_choice("anneal_strategy", anneal_strategy, ANNEAL_STRATEGIES)
    v.check_bool("three_phase", three_phase)
    if total_steps is None:
        return pct_start, None
    ends = _phase_ends(total_steps, pct_start, three_phase)
    lengths = [b - a for a, b in zip((0.0,) + ends[:-1], ends)]
    if min(lengths) <= 0:
        raise ValueError(
            "`total_steps` and `pct_start` must give every phase of the cycle a positive length; "
            f"received total_steps={total_steps}, pct_start={pct_start}, three_phase={three_phase}, "
            f"where the phases end at steps {ends}. Use more total_steps or a pct_start with "
            "pct_start * total_steps > 1" + (" and pct_start < 0.5." if three_phase else ".")
        )
    return pct_start, total_steps


def check_one_cycle_rates(max_lr, div_factor, final_div_factor):
    """Checks of the rates shared by `OneCycle` and `OneCycleLR`; returns them as floats.

    The three rates of the cycle (peak, initial, final) must fit float32, in which
    the schedule is computed.
    """
    max_lr = v.check_float32_positive("max_lr", max_lr)
    div_factor = v.check_positive("div_factor", div_factor)
    final_div_factor = v.check_positive("final_div_factor", final_div_factor)
    initial_lr = max_lr / div_factor
    v.check_float32("div_factor", div_factor, computed=initial_lr, what="the initial rate max_lr / div_factor")
    v.check_float32(
        "final_div_factor",
        final_div_factor,
        computed=initial_lr / final_div_factor,
        what="the final rate max_lr / div_factor / final_div_factor",
    )
    return max_lr, div_factor, final_div_factor


def one_cycle(
    step: Any,
    *,
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> Any:
    """Learning rate after `step` optimizer steps (float32 tensor).

    Equals ``torch.optim.lr_scheduler.OneCycleLR``'s rate after `step` calls of
    ``scheduler.step()`` for every step in ``[0, total_steps]``; past
    `total_steps` it holds the final rate ``max_lr / div_factor /
    final_div_factor``. Like torch, the value at exactly ``step == total_steps``
    extrapolates the last phase one step (for ``"linear"`` it is negative); it
    is only used if training goes past `total_steps`, which the callback warns
    about. `step` may be a scalar or an array of steps. The other arguments
    are checked as `OneCycle` checks them.

    Args:
        step: optimizer steps taken, a scalar or an array of steps.
        max_lr: peak learning rate, > 0.
        total_steps: number of optimizer steps in the cycle, >= 1.
        pct_start: fraction of the cycle spent rising, in (0, 1).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        div_factor: initial rate is ``max_lr / div_factor``; > 0.
        final_div_factor: final rate is ``initial_lr / final_div_factor``; > 0.
        three_phase: use torch's three-phase variant.

    Returns:
        The learning rate, a float32 tensor of the shape of `step`.

    Raises:
        ValueError: an argument is out of its range or not a known choice.
        TypeError: an argument has the wrong type.

    Example:

    >>> import kerasplus
    >>> [round(float(kerasplus.schedules.one_cycle(step, max_lr=0.1, total_steps=100)), 6) for step in (0, 29)]
    [0.004, 0.1]
    """
    max_lr, div_factor, final_div_factor = check_one_cycle_rates(max_lr, div_factor, final_div_factor)
    total_steps = v.check_int("total_steps", total_steps, minimum=1, maximum=v.MAX_STEPS)
    pct_start, total_steps = check_cycle(pct_start, anneal_strategy, three_phase, total_steps)
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    if three_phase:
        values = (initial_lr, max_lr, initial_lr, min_lr)
    else:
        values = (initial_lr, max_lr, min_lr)
    ends = _phase_ends(total_steps, pct_start, three_phase)
    # torch's linear extrapolation at step == total_steps can go below 0: a rate is >= 0.
    return ops.maximum(_piecewise(step, ends, values, anneal_strategy, min_lr, total_steps), 0.0)


def one_cycle_momentum(
    step: Any,
    *,
    total_steps: int,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    three_phase: bool = False,
) -> Any:
    """Momentum (or Adam's beta_1) after `step` steps, inverse to the rate, as torch.

    The arguments are checked as `OneCycleMomentum` checks them.

    Args:
        step: optimizer steps taken, a scalar or an array of steps.
        total_steps: number of optimizer steps in the cycle, >= 1.
        base_momentum: lowest momentum, reached with the peak rate; in [0, 1).
        max_momentum: momentum at the start and the end, in [base_momentum, 1).
        pct_start: fraction of the cycle spent falling, in (0, 1).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        three_phase: use torch's three-phase variant.

    Returns:
        The momentum, a float32 tensor of the shape of `step`.

    Raises:
        ValueError: an argument is out of its range or not a known choice.
        TypeError: an argument has the wrong type.

    Example:

    >>> import kerasplus
    >>> [round(float(kerasplus.schedules.one_cycle_momentum(step, total_steps=100)), 6) for step in (0, 29, 99)]
    [0.95, 0.85, 0.95]
    """
    total_steps = v.check_int("total_steps", total_steps, minimum=1, maximum=v.MAX_STEPS)
    pct_start, total_steps = check_cycle(pct_start, anneal_strategy, three_phase, total_steps)
    base_momentum, max_momentum = v.check_momentum_range(base_momentum, max_momentum)
    if three_phase:
        values = (max_momentum, base_momentum, max_momentum, max_momentum)
    else:
        values = (max_momentum, base_momentum, max_momentum)
    ends = _phase_ends(total_steps, pct_start, three_phase)
    return _piecewise(step, ends, values, anneal_strategy, max_momentum, total_steps)


@keras.saving.register_keras_serializable(package="kerasplus")
class OneCycle(FiniteHorizonSchedule):
    """One-cycle learning rate, identical to `torch.optim.lr_scheduler.OneCycleLR`.

    A `FiniteHorizonSchedule`: integer steps read a table of `one_cycle`
    values computed at construction (for ``total_steps < 2**20``), so the
    train step does one gather.

    The rate rises from ``max_lr / div_factor`` to `max_lr` over the first
    ``pct_start`` of `total_steps`, then anneals to
    ``max_lr / div_factor / final_div_factor``. With ``three_phase=True`` it
    first returns to the initial rate, then anneals to the final one.

    Args:
        max_lr: peak learning rate, > 0.
        total_steps: number of optimizer steps in the cycle, >= 1.
        pct_start: fraction of the cycle spent rising, in (0, 1).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        div_factor: initial rate is ``max_lr / div_factor``; > 0.
        final_div_factor: final rate is ``initial_lr / final_div_factor``; > 0.
        three_phase: use torch's three-phase variant.

    Example:

    >>> import keras, kerasplus
    >>> schedule = kerasplus.schedules.OneCycle(max_lr=0.1, total_steps=100)
    >>> optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    >>> round(float(schedule(0)), 6)
    0.004
    """

    def __init__(
        self,
        max_lr: float,
        total_steps: int,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ) -> None:
        self.max_lr, self.div_factor, self.final_div_factor = check_one_cycle_rates(
            max_lr, div_factor, final_div_factor
        )
        total_steps = v.check_int("total_steps", total_steps, minimum=1, maximum=v.MAX_STEPS)  # required here
        self.pct_start, self.total_steps = check_cycle(pct_start, anneal_strategy, three_phase, total_steps)
        self.anneal_strategy = anneal_strategy
        self.three_phase = three_phase
        # Values at steps 0..total_steps, then the value held past the end.
        super().__init__(horizon=self.total_steps + 1)

    def formula(self, step: Any) -> Any:
        return one_cycle(step, **self.get_config())

    def get_config(self) -> dict:
        return {
            "max_lr": self.max_lr,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "three_phase": self.three_phase,
        }


@keras.saving.register_keras_serializable(package="kerasplus")
class OneCycleMomentum(FiniteHorizonSchedule):
    """The momentum curve of the 1cycle policy, as `torch.optim.lr_scheduler.OneCycleLR` cycles it.

    Inverse to `OneCycle` with the same `total_steps`, `pct_start`,
    `anneal_strategy` and `three_phase`: the momentum (or Adam's `beta_1`)
    falls from `max_momentum` to `base_momentum` while the rate rises, then
    returns to `max_momentum` (and stays there in the three-phase variant's
    last phase, and past `total_steps`). Values are `one_cycle_momentum`'s,
    read from a table as `OneCycle` does. `kerasplus.callbacks.OneCycleLR`
    cycles an optimizer's momentum with it.

    Args:
        total_steps: number of optimizer steps in the cycle, >= 1.
        base_momentum: lowest momentum, reached with the peak rate; in [0, 1).
        max_momentum: momentum at the start and the end, in [base_momentum, 1).
        pct_start: fraction of the cycle spent falling, in (0, 1).
        anneal_strategy: ``"cos"`` or ``"linear"``.
        three_phase: use torch's three-phase variant.

    Example:

    >>> import kerasplus
    >>> momentum = kerasplus.schedules.OneCycleMomentum(total_steps=100)
    >>> [round(float(momentum(step)), 6) for step in (0, 29, 99)]
    [0.95, 0.85, 0.95]
    """

    def __init__(
        self,
        total_steps: int,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        three_phase: bool = False,
    ) -> None:
        total_steps = v.check_int("total_steps", total_steps, minimum=1, maximum=v.MAX_STEPS)  # required here
        self.pct_start, self.total_steps = check_cycle(pct_start, anneal_strategy, three_phase, total_steps)
        self.base_momentum, self.max_momentum = v.check_momentum_range(base_momentum, max_momentum)
        self.anneal_strategy = anneal_strategy
        self.three_phase = three_phase
        super().__init__(horizon=self.total_steps + 1)

    def formula(self, step: Any) -> Any:
        return one_cycle_momentum(step, **self.get_config())

    def get_config(self) -> dict:
        return {
            "total_steps": self.total_steps,
            "base_momentum": self.base_momentum,
            "max_momentum": self.max_momentum,
            "pct_start": self.pct_start,
            "anneal_strategy": self.anneal_strategy,
            "three_phase": self.three_phase,
        }
