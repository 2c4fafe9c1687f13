"""Cyclical learning rates (Smith 2017), step for step as torch's CyclicLR."""

from __future__ import annotations

import math

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.schedules._anneal import as_float_step

CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def cyclic(
    step,
    *,
    base_lr: float,
    max_lr: float,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
):
    """Learning rate after `step` optimizer steps (float32 tensor).

    Equals ``torch.optim.lr_scheduler.CyclicLR``'s rate after `step` calls of
    ``scheduler.step()``. The position inside the cycle is computed from integer
    step counts and ``gamma ** step`` as ``exp(step * log(gamma))`` with the
    logarithm taken in float64, so long runs stay accurate in float32.
    Swapping `base_lr` and `max_lr` gives torch's momentum curve.
    """
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    total = up + down
    step = as_float_step(step)
    cycle = ops.floor(step / total)
    # Guard the float division: the position must land in [0, total).
    position = step - cycle * total
    cycle = ops.where(position < 0, cycle - 1, ops.where(position >= total, cycle + 1, cycle))
    position = step - cycle * total
    scale = ops.where(position <= up, position / up, (total - position) / down)
    if mode == "triangular2":
        scale = scale * ops.power(0.5, cycle)
    elif mode == "exp_range":
        scale = scale * ops.exp(step * math.log(gamma))
    return base_lr + (max_lr - base_lr) * scale


def validate_cyclic(step_size_up, step_size_down, mode, gamma):
    """Checks of the cycle's shape (the callback builds a `CyclicLR`, which runs them)."""
    step_size_up = v.check_int("step_size_up", step_size_up, minimum=1)
    step_size_down = v.check_optional_int("step_size_down", step_size_down, minimum=1)
    v.check_choice("mode", mode, CYCLIC_MODES)
    gamma = v.check_range("gamma", gamma, 0.0, 1.0, low_inclusive=False)
    return step_size_up, step_size_down, gamma


@keras.saving.register_keras_serializable(package="kerasplus")
class CyclicLR(keras.optimizers.schedules.LearningRateSchedule):
    """Cyclical learning rate, identical to `torch.optim.lr_scheduler.CyclicLR`.

    Args:
        base_lr: lower bound of the cycle, >= 0.
        max_lr: upper bound of the cycle, > base_lr.
        step_size_up: steps from base to max, >= 1.
        step_size_down: steps from max back to base; defaults to `step_size_up`.
        mode: ``"triangular"`` (constant amplitude), ``"triangular2"``
            (amplitude halves each cycle) or ``"exp_range"`` (amplitude scaled
            by ``gamma ** step``).
        gamma: decay base for ``"exp_range"``, in (0, 1].

    Example:

    >>> import kerasplus
    >>> schedule = kerasplus.schedules.CyclicLR(0.001, 0.01, step_size_up=10)
    >>> round(float(schedule(10)), 6)
    0.01
    """

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
    ):
        self.base_lr = v.check_non_negative("base_lr", base_lr)
        self.max_lr = v.check_positive("max_lr", max_lr)
        v.check_less("base_lr", self.base_lr, "max_lr", self.max_lr)
        self.step_size_up, self.step_size_down, self.gamma = validate_cyclic(
            step_size_up, step_size_down, mode, gamma
        )
        self.mode = mode

    def __call__(self, step):
        return cyclic(step, **self.get_config())

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            "step_size_up": self.step_size_up,
            "step_size_down": self.step_size_down,
            "mode": self.mode,
            "gamma": self.gamma,
        }
