"""Cyclical learning rates (Smith 2017), step for step as torch's CyclicLR."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasplus import _validation as v
from kerasplus.schedules._anneal import as_float_step

CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
SCALE_MODES = ("cycle", "iterations")


def cyclic(
    step: Any,
    *,
    base_lr: float,
    max_lr: float,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable[[Any], Any] | None = None,
    scale_mode: str = "cycle",
) -> Any:
    """Learning rate after `step` optimizer steps (float32 tensor).

    Equals ``torch.optim.lr_scheduler.CyclicLR``'s rate after `step` calls of
    ``scheduler.step()``. The position inside the cycle is computed from integer
    step counts and ``gamma ** step`` as ``exp(step * log(gamma))`` with the
    logarithm taken in float64, so long runs stay accurate in float32.
    Swapping `base_lr` and `max_lr` gives torch's momentum curve (so here
    `base_lr` may exceed `max_lr`; both must be >= 0 and fit float32).

    With `scale_fn` (a function of a float32 tensor written in `keras.ops`,
    returning the amplitude's scale, torch's contract is ``0 <= scale_fn(x) <= 1``)
    `mode` and `gamma` are ignored, as in torch: the amplitude is multiplied by
    ``scale_fn(cycle)`` (torch's 1-based cycle number) for
    ``scale_mode="cycle"``, or by ``scale_fn(step)`` for ``"iterations"``.

    Args:
        step: optimizer steps taken, a scalar or an array of steps.
        base_lr: lower bound of the cycle, >= 0.
        max_lr: upper bound of the cycle, >= 0.
        step_size_up: steps from base to max, >= 1.
        step_size_down: steps from max back to base; defaults to `step_size_up`.
        mode: ``"triangular"`` (constant amplitude), ``"triangular2"``
            (amplitude halves each cycle) or ``"exp_range"`` (amplitude scaled
            by ``gamma ** step``).
        gamma: decay base for ``"exp_range"``, in (0, 1].
        scale_fn: custom amplitude scale, a function of a float32 tensor
            written with `keras.ops`; overrides `mode` and `gamma`.
        scale_mode: ``"cycle"`` (`scale_fn` gets the 1-based cycle number)
            or ``"iterations"`` (it gets the step).

    Returns:
        The learning rate, a float32 tensor of the shape of `step`.

    Raises:
        ValueError: an argument is out of its range or not a known choice.
        TypeError: an argument has the wrong type.

    Example:

    >>> import kerasplus
    >>> rate = kerasplus.schedules.cyclic(5, base_lr=0.001, max_lr=0.01, step_size_up=10)
    >>> round(float(rate), 6)
    0.0055
    """
    base_lr = v.check_float32_non_negative("base_lr", base_lr)
    max_lr = v.check_float32_non_negative("max_lr", max_lr)
    step_size_up, step_size_down, gamma = validate_cyclic(step_size_up, step_size_down, mode, gamma)
    scale_fn, scale_mode = validate_scale_fn(scale_fn, scale_mode)
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
    if scale_fn is not None:
        # torch counts cycles from 1: floor(1 + step / total).
        argument = cycle + 1.0 if scale_mode == "cycle" else step
        scale = scale * ops.cast(scale_fn(argument), "float32")
    elif mode == "triangular2":
        scale = scale * ops.power(0.5, cycle)
    elif mode == "exp_range":
        scale = scale * ops.exp(step * math.log(gamma))
    return base_lr + (max_lr - base_lr) * scale


def validate_cyclic(step_size_up, step_size_down, mode, gamma):
    """Checks of the cycle's shape (the callback builds a `CyclicLR`, which runs them)."""
    step_size_up = v.check_int("step_size_up", step_size_up, minimum=1, maximum=v.MAX_STEPS)
    step_size_down = v.check_optional_int("step_size_down", step_size_down, minimum=1, maximum=v.MAX_STEPS)
    v.check_choice("mode", mode, CYCLIC_MODES)
    gamma = v.check_range("gamma", gamma, 0.0, 1.0, low_inclusive=False)
    return step_size_up, step_size_down, gamma


def validate_scale_fn(scale_fn, scale_mode):
    """`scale_fn` is None or a callable; `scale_mode` one of `SCALE_MODES`."""
    if scale_fn is not None and not callable(scale_fn):
        raise TypeError(
            f"`scale_fn` must be None or a function of the cycle (or step) written with keras.ops; "
            f"received scale_fn={scale_fn!r} of type {type(scale_fn).__name__}."
        )
    v.check_choice("scale_mode", scale_mode, SCALE_MODES)
    return scale_fn, scale_mode


def check_scale_values(scale_fn, scale_mode, step_size_up, step_size_down):
    """Calls `scale_fn` where the first cycles need it; its values must be finite and >= 0."""
    if scale_fn is None:
        return
    down = step_size_down if step_size_down is not None else step_size_up
    if scale_mode == "cycle":
        points = np.arange(1.0, 11.0, dtype="float32")
    else:
        points = np.arange(0.0, float(10 * (step_size_up + down)), dtype="float32")[:100_000]
    try:
        scaled = ops.convert_to_numpy(ops.cast(scale_fn(ops.convert_to_tensor(points)), "float32"))
    except Exception as error:
        raise ValueError(
            f"`scale_fn` must take a float32 tensor of {scale_mode} values and return one value "
            f"each, using keras.ops; scale_fn={scale_fn!r} raised {type(error).__name__}: {error}"
        ) from error
    scaled = np.broadcast_to(scaled, points.shape)
    bad = ~(np.isfinite(scaled) & (scaled >= 0))
    if bad.any():
        at = points[np.argmax(bad)]
        raise ValueError(
            f"`scale_fn` must return finite values >= 0; received scale_fn={scale_fn!r}, "
            f"which gives {scaled[np.argmax(bad)]!r} at {scale_mode} {at:g}."
        )


def serialize_scale_fn(scale_fn):
    """`scale_fn` for `get_config`: a function registered with `keras.saving.register_keras_serializable`."""
    if scale_fn is None:
        return None
    name = keras.saving.get_registered_name(scale_fn)
    if keras.saving.get_registered_object(name) is not scale_fn:
        raise ValueError(
            f"`scale_fn` must be registered with @keras.saving.register_keras_serializable() to be "
            f"saved; received scale_fn={scale_fn!r}. Define it as a named function, register it, "
            "and pass that."
        )
    return keras.saving.serialize_keras_object(scale_fn)


def deserialize_scale_fn(config):
    if config is None or callable(config):
        return config
    return keras.saving.deserialize_keras_object(config)


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
        scale_fn: custom amplitude scale, a function of a float32 tensor
            written with `keras.ops`, with values >= 0 (torch's contract is
            ``0 <= scale_fn(x) <= 1``); overrides `mode` and `gamma` as in
            torch. To save the schedule, register it with
            `keras.saving.register_keras_serializable`.
        scale_mode: ``"cycle"`` (`scale_fn` gets the 1-based cycle number)
            or ``"iterations"`` (it gets the step).

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
        scale_fn: Callable[[Any], Any] | None = None,
        scale_mode: str = "cycle",
    ) -> None:
        self.base_lr = v.check_float32_non_negative("base_lr", base_lr)
        self.max_lr = v.check_float32_positive("max_lr", max_lr)
        v.check_less("base_lr", self.base_lr, "max_lr", self.max_lr)
        self.step_size_up, self.step_size_down, self.gamma = validate_cyclic(step_size_up, step_size_down, mode, gamma)
        self.mode = mode
        self.scale_fn, self.scale_mode = validate_scale_fn(deserialize_scale_fn(scale_fn), scale_mode)
        check_scale_values(self.scale_fn, self.scale_mode, self.step_size_up, self.step_size_down)

    def arguments(self) -> dict:
        """The constructor's arguments, with `scale_fn` as the function itself."""
        return {
            "base_lr": self.base_lr,
            "max_lr": self.max_lr,
            "step_size_up": self.step_size_up,
            "step_size_down": self.step_size_down,
            "mode": self.mode,
            "gamma": self.gamma,
            "scale_fn": self.scale_fn,
            "scale_mode": self.scale_mode,
        }

    def __call__(self, step: Any) -> Any:
        return cyclic(step, **self.arguments())

    def get_config(self) -> dict:
        return {**self.arguments(), "scale_fn": serialize_scale_fn(self.scale_fn)}
