"""`ExponentialSweep`: the geometric rate sweep of the learning-rate range test."""

from __future__ import annotations

from typing import Any

import keras

from kerasplus import _validation as v
from kerasplus.schedules._anneal import anneal, as_float_step


# Registered as "kerasplus>ExponentialSweep", the name it had in kerasplus.callbacks.lr_finder,
# so files saved before it moved here still load.
@keras.saving.register_keras_serializable(package="kerasplus")
class ExponentialSweep(keras.optimizers.schedules.LearningRateSchedule):
    """``start_lr * (end_lr / start_lr) ** (step / (num_steps - 1))``: a geometric sweep.

    Goes from `start_lr` at step 0 to `end_lr` at step ``num_steps - 1`` and
    keeps growing at the same ratio per step past it. The schedule
    `kerasplus.callbacks.LRFinder` and `kerasplus.lr_find` sweep with.

    Args:
        start_lr: rate at step 0, > 0 (a normal float32, >= 1.2e-38).
        end_lr: rate at step ``num_steps - 1``, > start_lr, <= 3.4e38.
        num_steps: steps in the sweep, >= 2.

    Example:

    >>> import kerasplus
    >>> sweep = kerasplus.schedules.ExponentialSweep(1e-4, 1.0, num_steps=5)
    >>> [round(float(sweep(step)), 6) for step in range(5)]
    [0.0001, 0.001, 0.01, 0.1, 1.0]
    """

    def __init__(self, start_lr: float, end_lr: float, num_steps: int) -> None:
        self.start_lr = v.check_float32_normal("start_lr", start_lr)
        self.end_lr = v.check_float32_positive("end_lr", end_lr)
        v.check_less("start_lr", self.start_lr, "end_lr", self.end_lr)
        self.num_steps = v.check_int("num_steps", num_steps, minimum=2, maximum=v.MAX_STEPS)

    def __call__(self, step: Any) -> Any:
        done = as_float_step(step)
        span = float(self.num_steps - 1)
        return anneal(self.start_lr, self.end_lr, done / span, (span - done) / span, "exp")

    def get_config(self) -> dict:
        return {
            "start_lr": self.start_lr,
            "end_lr": self.end_lr,
            "num_steps": self.num_steps,
        }
