"""`CyclicLR`: cyclical learning rates added to an already compiled model's `fit`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

import functools

from kerasplus import _validation as v
from kerasplus.callbacks._schedule_callback import ScheduleCallback
from kerasplus.schedules.cyclic import CyclicLR as CyclicSchedule
from kerasplus.schedules.cyclic import cyclic


class CyclicLR(ScheduleCallback):
    """Cyclical learning rate and inverse momentum, as `torch.optim.lr_scheduler.CyclicLR`.

    Puts a `kerasplus.schedules.CyclicLR` on the optimizer for this `fit` and,
    with ``cycle_momentum=True`` (torch's default), cycles momentum/`beta_1`
    from `max_momentum` down to `base_momentum` while the rate rises. Epoch logs
    gain `learning_rate` (and `momentum`/`beta_1`).

    Args:
        base_lr: as in `kerasplus.schedules.CyclicLR`.
        max_lr: as in `kerasplus.schedules.CyclicLR`.
        step_size_up: as in `kerasplus.schedules.CyclicLR`.
        step_size_down: as in `kerasplus.schedules.CyclicLR`.
        mode: as in `kerasplus.schedules.CyclicLR`.
        gamma: as in `kerasplus.schedules.CyclicLR`.
        scale_fn: as in `kerasplus.schedules.CyclicLR`.
        scale_mode: as in `kerasplus.schedules.CyclicLR`.
        cycle_momentum: cycle momentum/`beta_1` inversely to the rate (every backend).
        base_momentum: momentum range, 0 <= base <= max < 1.
        max_momentum: momentum range, 0 <= base <= max < 1.
        optimizer: the optimizer to drive: a `keras.optimizers.Optimizer`
            the model holds, or the name of the model attribute holding it
            (``"d_optimizer"`` for the Keras guide's GAN); None drives the
            model's only optimizer, and `fit` raises at its start when the
            model holds several.
        override_schedule: replace the optimizer's own `LearningRateSchedule`
            for this `fit` on purpose; False (the default) raises at the
            start of `fit` with `kerasplus.diagnostics.lint`'s
            ``lr-callback-over-schedule`` message.

    Example:

    >>> import kerasplus
    >>> callback = kerasplus.callbacks.CyclicLR(1e-3, 1e-2, step_size_up=50,
    ...                                         cycle_momentum=False)
    """

    def __init__(
        self,
        base_lr: float,
        max_lr: float,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        cycle_momentum: bool = True,
        base_momentum: float = 0.8,
        max_momentum: float = 0.9,
        scale_fn: Callable[[Any], Any] | None = None,
        scale_mode: str = "cycle",
        optimizer: keras.optimizers.Optimizer | str | None = None,
        override_schedule: bool = False,
    ) -> None:
        super().__init__(
            cycle_momentum=v.check_bool("cycle_momentum", cycle_momentum),
            optimizer=optimizer,
            override_schedule=override_schedule,
        )
        self.schedule = CyclicSchedule(base_lr, max_lr, step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)
        self.base_momentum, self.max_momentum = v.check_momentum_range(base_momentum, max_momentum)

    def make_schedules(self, optimizer: keras.optimizers.Optimizer) -> tuple:
        # torch's momentum curve: the rate's cycle with the ends swapped.
        config = self.schedule.arguments()
        config.update(base_lr=self.max_momentum, max_lr=self.base_momentum)
        return self.schedule, functools.partial(cyclic, **config)
