"""`SWALR`: torch's ``SWALR`` as a Keras schedule, after any rate or schedule."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerasplus import _validation as v
from kerasplus.schedules._anneal import ANNEAL_STRATEGIES, anneal, as_float_step


def _rate(schedule, step):
    if isinstance(schedule, float):
        return ops.full(ops.shape(step), schedule, dtype="float32")
    return ops.cast(schedule(step), "float32")


@keras.saving.register_keras_serializable(package="kerasplus")
class SWALR(keras.optimizers.schedules.LearningRateSchedule):
    """`before` until `start_step`, then torch's ``SWALR`` stepped once per epoch.

    Before `start_step` the rate is `before` (a constant or any schedule). From
    there, in epoch ``e`` (0 at `start_step`, epochs of `steps_per_epoch`
    steps) it is ``swa_lr * alpha + lr0 * (1 - alpha)``, with ``alpha`` the
    `anneal_strategy` curve at ``t = min(e / anneal_epochs, 1)`` (``t = 1``
    when ``anneal_epochs=0``) and ``lr0 = before(start_step)``: torch's
    ``SWALR`` created when the first averaged epoch starts and stepped at each
    epoch end, as Lightning's ``StochasticWeightAveraging`` does. It is what
    `kerasplus.callbacks.StochasticWeightAveraging` installs with a `swa_lr`.

    Args:
        before: the rate before `start_step`: a float >= 0 or a
            `LearningRateSchedule`.
        start_step: optimizer step at which the annealing starts, >= 0.
        steps_per_epoch: steps in an epoch, >= 1 (the rate changes once per
            epoch, as torch's does).
        swa_lr: the rate reached after `anneal_epochs` epochs, > 0.
        anneal_epochs: epochs of annealing, >= 0 (0 jumps to `swa_lr`).
        anneal_strategy: ``"cos"`` or ``"linear"``, as torch's.

    Returns:
        Called with a step, the rate there (a float32 tensor).

    Example:

    >>> import kerasplus
    >>> schedule = kerasplus.schedules.SWALR(0.1, start_step=4, steps_per_epoch=2, swa_lr=0.02,
    ...                                      anneal_epochs=2, anneal_strategy="linear")
    >>> [round(float(schedule(step)), 4) for step in (0, 4, 6, 8, 100)]
    [0.1, 0.1, 0.06, 0.02, 0.02]
    """

    def __init__(
        self,
        before: Any,
        start_step: int,
        steps_per_epoch: int,
        swa_lr: float,
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
    ) -> None:
        if isinstance(before, keras.optimizers.schedules.LearningRateSchedule):
            self.before = before
        elif isinstance(before, bool) or not isinstance(before, (int, float)):
            raise TypeError(
                f"`before` must be a float rate or a keras LearningRateSchedule; received before={before!r}."
            )
        else:
            self.before = v.check_float32_non_negative("before", before)
        self.start_step = v.check_int("start_step", start_step, minimum=0, maximum=v.MAX_STEPS)
        self.steps_per_epoch = v.check_int("steps_per_epoch", steps_per_epoch, minimum=1, maximum=v.MAX_STEPS)
        self.swa_lr = v.check_float32_positive("swa_lr", swa_lr)
        self.anneal_epochs = v.check_int("anneal_epochs", anneal_epochs, minimum=0, maximum=v.MAX_STEPS)
        self.anneal_strategy = v.check_choice("anneal_strategy", anneal_strategy, ANNEAL_STRATEGIES)
        self.lr0 = float(ops.convert_to_numpy(_rate(self.before, ops.convert_to_tensor(float(self.start_step)))))

    def __call__(self, step: Any) -> Any:
        step = as_float_step(step)
        epoch = ops.floor((step - float(self.start_step)) / float(self.steps_per_epoch))
        if self.anneal_epochs == 0:
            swa = ops.full(ops.shape(step), self.swa_lr, dtype="float32")
        else:
            t = ops.clip(epoch / float(self.anneal_epochs), 0.0, 1.0)
            left = ops.clip((float(self.anneal_epochs) - epoch) / float(self.anneal_epochs), 0.0, 1.0)
            swa = anneal(self.lr0, self.swa_lr, t, left, self.anneal_strategy)
        return ops.where(step < float(self.start_step), _rate(self.before, step), swa)

    def get_config(self) -> dict:
        before = self.before
        if not isinstance(before, float):
            before = keras.saving.serialize_keras_object(before)
        return {
            "before": before,
            "start_step": self.start_step,
            "steps_per_epoch": self.steps_per_epoch,
            "swa_lr": self.swa_lr,
            "anneal_epochs": self.anneal_epochs,
            "anneal_strategy": self.anneal_strategy,
        }

    @classmethod
    def from_config(cls, config: dict) -> SWALR:
        config = dict(config)
        if isinstance(config["before"], dict):
            config["before"] = keras.saving.deserialize_keras_object(config["before"])
        return cls(**config)
