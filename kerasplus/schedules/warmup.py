"""Learning-rate warm-up that wraps any schedule or constant."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.schedules._anneal import anneal, as_float_step
from kerasplus.schedules.finite_horizon import FiniteHorizonSchedule

WARMUP_SHAPES = ("linear", "cos", "exp")


def warmup(step: Any, target: Any, *, warmup_steps: int, warmup_init_lr: float = 0.0, shape: str = "linear") -> Any:
    """Warm-up rate at `step` rising from `warmup_init_lr` to `target` (held from `warmup_steps` on).

    ``linear`` and ``cos`` interpolate; ``exp`` rises geometrically and needs
    both ends > 0. At ``step == warmup_steps`` every shape reaches `target`.
    `warmup_steps`, `warmup_init_lr` and `shape` are checked as `Warmup` checks
    them; a number `target` must be >= 0 (> 0 for ``exp``) and fit float32.

    Args:
        step: optimizer steps taken, a scalar or an array of steps.
        target: rate reached at `warmup_steps`, a number or a float32 tensor
            (the wrapped schedule's value).
        warmup_steps: number of warm-up steps, >= 1.
        warmup_init_lr: rate at step 0, >= 0 (> 0 for ``shape="exp"``).
        shape: ``"linear"``, ``"cos"`` (half cosine) or ``"exp"`` (geometric).

    Returns:
        The warm-up rate, a float32 tensor of the shape of `step`.

    Raises:
        ValueError: an argument is out of its range or not a known choice.
        TypeError: an argument has the wrong type.

    Example:

    >>> import kerasplus
    >>> [round(float(kerasplus.schedules.warmup(step, 0.1, warmup_steps=10)), 6) for step in (5, 20)]
    [0.05, 0.1]
    """
    warmup_steps = v.check_int("warmup_steps", warmup_steps, minimum=1, maximum=v.MAX_STEPS)
    warmup_init_lr, shape = check_warmup_start(warmup_init_lr, shape)
    if not ops.is_tensor(target):  # a number (a tensor is the wrapped schedule's value)
        target = v.check_float32_non_negative("target", target)
        if shape == "exp":
            v.check_float32_normal("target", target)
    # Past `warmup_steps` it holds `target` (the wrapped schedule takes over there).
    step = ops.clip(as_float_step(step), 0.0, float(warmup_steps))
    pct = step / float(warmup_steps)
    remaining = (float(warmup_steps) - step) / float(warmup_steps)
    return anneal(warmup_init_lr, target, pct, remaining, shape)


def check_warmup_start(warmup_init_lr, shape):
    """`warmup_init_lr` >= 0 in float32 (> 0 and not 0 in float32 for ``exp``); `shape` a known one."""
    warmup_init_lr = v.check_float32_non_negative("warmup_init_lr", warmup_init_lr)
    shape = v.check_choice("shape", shape, WARMUP_SHAPES)
    if shape == "exp":
        v.check_float32_normal("warmup_init_lr", warmup_init_lr)
    return warmup_init_lr, shape


def _value(schedule, step):
    if isinstance(schedule, float):
        # Same shape as `step`, so a table of a constant is an array too.
        return ops.full(ops.shape(ops.convert_to_tensor(step)), schedule, dtype="float32")
    return ops.cast(schedule(step), "float32")


@keras.saving.register_keras_serializable(package="kerasplus")
class Warmup(FiniteHorizonSchedule):
    """Warm-up in front of any learning rate schedule or constant rate.

    For ``step < warmup_steps`` the rate goes from `warmup_init_lr` to the
    value the wrapped schedule has when warm-up ends; from then on it is the
    wrapped schedule, so there is no jump.

    Which step the wrapped schedule sees:

    * ``shift_schedule=True`` (default): ``step - warmup_steps``. The wrapped
      schedule starts at its own step 0 when warm-up ends, so a
      ``CosineDecay(decay_steps=total - warmup_steps)`` ends on time. This is
      how Keras's own ``CosineDecay(warmup_steps=...)`` and Optax's
      ``join_schedules`` count.
    * ``shift_schedule=False``: the global ``step``. Warm-up replaces the
      wrapped schedule's first `warmup_steps` values (timm's convention).

    Args:
        schedule: a `LearningRateSchedule` or a constant float rate.
        warmup_steps: number of warm-up steps, >= 0 (0 disables warm-up).
        warmup_init_lr: rate at step 0, >= 0 (> 0 for ``shape="exp"``).
        shape: ``"linear"``, ``"cos"`` (half cosine) or ``"exp"`` (geometric).
        shift_schedule: see above.

    Example:

    >>> import keras, kerasplus
    >>> decay = keras.optimizers.schedules.CosineDecay(0.1, decay_steps=900)
    >>> schedule = kerasplus.schedules.Warmup(decay, warmup_steps=100)
    >>> round(float(schedule(50)), 6), round(float(schedule(100)), 6)
    (0.05, 0.1)
    """

    def __init__(
        self,
        schedule: keras.optimizers.schedules.LearningRateSchedule | float,
        warmup_steps: int,
        warmup_init_lr: float = 0.0,
        shape: str = "linear",
        shift_schedule: bool = True,
    ) -> None:
        if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            self.schedule = schedule
        elif isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
            self.schedule = v.check_float32_non_negative("schedule", schedule)
        else:
            raise TypeError(
                "`schedule` must be a keras LearningRateSchedule or a float "
                f"learning rate; received schedule={schedule!r} of type "
                f"{type(schedule).__name__}."
            )
        self.warmup_steps = v.check_int("warmup_steps", warmup_steps, minimum=0, maximum=v.MAX_STEPS)
        self.warmup_init_lr, self.shape = check_warmup_start(warmup_init_lr, shape)
        self.shift_schedule = v.check_bool("shift_schedule", shift_schedule)
        self._offset = float(self.warmup_steps) if self.shift_schedule else 0.0
        # Where warm-up must arrive: a constant, computed once (schedules are pure).
        self._target = float(ops.convert_to_numpy(_value(self.schedule, float(self.warmup_steps) - self._offset)))
        if self.warmup_steps and not 0 <= self._target <= v.FLOAT32_MAX:
            raise ValueError(
                "`schedule` must be finite and >= 0 where warm-up ends; it is "
                f"{self._target!r} at step {self.warmup_steps}; received schedule={self.schedule!r}."
            )
        if shape == "exp" and self.warmup_steps and self._target < v.FLOAT32_TINY:
            raise ValueError(
                'shape="exp" needs the wrapped schedule to be > 0 where warm-up '
                f"ends; it is {self._target!r} at step {self.warmup_steps}."
            )

        # With a finite horizon (a constant or a finite-horizon schedule inside),
        # the whole curve is tabulated too, so the train step does a single gather.
        super().__init__(horizon=self._find_horizon())

    def _find_horizon(self):
        """First step from which the value never changes, or None if unknown."""
        if isinstance(self.schedule, float):
            return self.warmup_steps
        if not isinstance(self.schedule, FiniteHorizonSchedule) or self.schedule.horizon is None:
            return None
        inner = self.schedule.horizon
        return inner + self.warmup_steps if self.shift_schedule else max(inner, self.warmup_steps)

    def formula(self, step: Any) -> Any:
        if self.warmup_steps == 0:
            return _value(self.schedule, step)
        step = as_float_step(step)
        after = _value(self.schedule, ops.maximum(step - self._offset, 0.0))
        target = self._target
        rising = warmup(
            ops.minimum(step, float(self.warmup_steps)),
            target,
            warmup_steps=self.warmup_steps,
            warmup_init_lr=self.warmup_init_lr,
            shape=self.shape,
        )
        return ops.where(step < self.warmup_steps, rising, after)

    def get_config(self) -> dict:
        schedule = self.schedule
        if not isinstance(schedule, float):
            schedule = keras.saving.serialize_keras_object(schedule)
        return {
            "schedule": schedule,
            "warmup_steps": self.warmup_steps,
            "warmup_init_lr": self.warmup_init_lr,
            "shape": self.shape,
            "shift_schedule": self.shift_schedule,
        }

    @classmethod
    def from_config(cls, config: dict) -> Warmup:
        config = dict(config)
        if isinstance(config["schedule"], dict):
            config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)
