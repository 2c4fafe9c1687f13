"""`WarmupLR`: warm-up in front of whatever learning rate the optimizer has."""

from __future__ import annotations

import keras
from keras import ops

from kerasplus._internals import keras as internal_keras
from kerasplus.callbacks._schedule_callback import ScheduleCallback, StartedSchedule
from kerasplus.schedules.warmup import Warmup


class WarmupLR(ScheduleCallback):
    """Warms up the optimizer's own learning rate or schedule during `fit`.

    At the start of `fit` it wraps what the optimizer has — a constant rate, a
    Keras schedule such as `CosineDecay`, or a schedule a callback earlier in
    the list installed (e.g. `OneCycleLR`) — in `kerasplus.schedules.Warmup`.
    Epoch logs gain `learning_rate`.

    Args:
        warmup_steps: as in `kerasplus.schedules.Warmup`.
        warmup_init_lr: as in `kerasplus.schedules.Warmup`.
        shape: as in `kerasplus.schedules.Warmup`.
        shift_schedule: as in `kerasplus.schedules.Warmup`.
        optimizer: the optimizer to drive: a `keras.optimizers.Optimizer`
            the model holds, or the name of the model attribute holding it
            (``"d_optimizer"`` for the Keras guide's GAN); None drives the
            model's only optimizer, and `fit` raises at its start when the
            model holds several.

    Example:

    >>> import kerasplus
    >>> callback = kerasplus.callbacks.WarmupLR(warmup_steps=100)
    """

    def __init__(
        self,
        warmup_steps: int,
        warmup_init_lr: float = 0.0,
        shape: str = "linear",
        shift_schedule: bool = True,
        optimizer: keras.optimizers.Optimizer | str | None = None,
    ) -> None:
        super().__init__(cycle_momentum=False, optimizer=optimizer)
        # Validate now, with a placeholder rate; the real one is known in fit.
        self._arguments = dict(
            warmup_steps=warmup_steps,
            warmup_init_lr=warmup_init_lr,
            shape=shape,
            shift_schedule=shift_schedule,
        )
        Warmup(1.0, **self._arguments)
        self.schedule = None

    def make_schedules(self, optimizer: keras.optimizers.Optimizer) -> tuple:
        current = internal_keras.learning_rate_source(optimizer)
        if isinstance(current, StartedSchedule):
            # Installed by a callback earlier in the list: wrap its own curve.
            current = current.schedule
        if isinstance(current, keras.optimizers.schedules.LearningRateSchedule):
            wrapped = current
        elif isinstance(current, keras.Variable):
            wrapped = float(ops.convert_to_numpy(current))
        else:
            raise TypeError(
                "WarmupLR wraps a float learning rate or a LearningRateSchedule; "
                f"the optimizer's learning_rate is {current!r}."
            )
        self.schedule = Warmup(wrapped, **self._arguments)
        return self.schedule, None
