"""`OneCycleLR`: the 1cycle policy added to an already compiled model's `fit`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

import warnings

from kerasplus import _validation as v
from kerasplus.callbacks._schedule_callback import ScheduleCallback, fit_total_steps
from kerasplus.schedules.one_cycle import (
    OneCycle,
    OneCycleMomentum,
    check_cycle,
    check_one_cycle_rates,
)


class OneCycleLR(ScheduleCallback):
    """One-cycle learning rate and inverse momentum, as `torch.optim.lr_scheduler.OneCycleLR`.

    Add it to the `callbacks` of any compiled model's `fit`. It works out
    `total_steps` from ``epochs * steps_per_epoch`` (each taken from `fit` when
    not given), puts a `kerasplus.schedules.OneCycle` on the optimizer, read
    in-graph from `optimizer.iterations`, and cycles SGD/RMSprop `momentum` or
    Adam-family `beta_1` along `kerasplus.schedules.OneCycleMomentum`, between
    `max_momentum` and `base_momentum` inversely to the rate. The epoch logs
    gain `learning_rate` and `momentum`/`beta_1` (put this callback before
    `CSVLogger`/`TensorBoard` so they see them). When `fit` ends the optimizer
    gets back its own rate and momentum.

    Because the schedule depends only on `optimizer.iterations`, a run resumed
    from a checkpoint (with ``initial_epoch``) continues the same curve.

    With an optimizer made with ``gradient_accumulation_steps=k`` the cycle
    counts optimizer updates (one per k batches, as torch's scheduler stepped
    after each ``optimizer.step()``): taken from `fit`, `total_steps` is
    ``epochs * steps_per_epoch // k`` (a warning when k does not divide it);
    a `total_steps` you give counts updates.

    Args:
        max_lr: peak learning rate, > 0.
        epochs: override what `fit` reports; each >= 1.
        steps_per_epoch: override what `fit` reports; each >= 1.
        total_steps: length of the cycle in optimizer updates; overrides both.
        pct_start: as `kerasplus.schedules.OneCycle`.
        anneal_strategy:
            as `kerasplus.schedules.OneCycle`.
        div_factor: as `kerasplus.schedules.OneCycle`.
        final_div_factor:
            as `kerasplus.schedules.OneCycle`.
        three_phase: as `kerasplus.schedules.OneCycle`.
        cycle_momentum: cycle momentum/`beta_1` inversely to the rate (every backend).
        base_momentum: as `kerasplus.schedules.OneCycleMomentum`.
        max_momentum: as `kerasplus.schedules.OneCycleMomentum`.
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

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(momentum=0.9), "mse")
    >>> x, y = np.zeros((32, 4)), np.zeros((32, 1))
    >>> history = model.fit(x, y, epochs=2, batch_size=8, verbose=0,
    ...                     callbacks=[kerasplus.callbacks.OneCycleLR(max_lr=0.1)])
    >>> sorted(k for k in history.history if k != "loss")
    ['learning_rate', 'momentum']
    """

    def __init__(
        self,
        max_lr: float,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        total_steps: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        optimizer: keras.optimizers.Optimizer | str | None = None,
        override_schedule: bool = False,
    ) -> None:
        super().__init__(
            cycle_momentum=v.check_bool("cycle_momentum", cycle_momentum),
            optimizer=optimizer,
            override_schedule=override_schedule,
        )
        self.epochs = v.check_optional_int("epochs", epochs, minimum=1, maximum=v.MAX_STEPS)
        self.steps_per_epoch = v.check_optional_int("steps_per_epoch", steps_per_epoch, minimum=1, maximum=v.MAX_STEPS)
        self.total_steps = v.check_optional_int("total_steps", total_steps, minimum=1, maximum=v.MAX_STEPS)
        # The schedules' own checks, now (the phases once total_steps is known).
        check_one_cycle_rates(max_lr, div_factor, final_div_factor)
        known = self.total_steps
        if known is None and self.epochs is not None and self.steps_per_epoch is not None:
            known = self.epochs * self.steps_per_epoch
        check_cycle(pct_start, anneal_strategy, three_phase, known)
        v.check_momentum_range(base_momentum, max_momentum)
        # What OneCycle and OneCycleMomentum get besides total_steps, which fit may tell.
        cycle = {"pct_start": pct_start, "anneal_strategy": anneal_strategy, "three_phase": three_phase}
        rates = {"max_lr": max_lr, "div_factor": div_factor, "final_div_factor": final_div_factor}
        self._rate_arguments = {**rates, **cycle}
        self._momentum_arguments = {"base_momentum": base_momentum, "max_momentum": max_momentum, **cycle}
        self.schedule = None
        self.momentum_schedule = None
        if self.total_steps is not None:
            self._build(self.total_steps)

    def _build(self, total_steps):
        self.schedule = OneCycle(total_steps=total_steps, **self._rate_arguments)
        if self.cycle_momentum:
            self.momentum_schedule = OneCycleMomentum(total_steps=total_steps, **self._momentum_arguments)

    def make_schedules(self, optimizer: keras.optimizers.Optimizer) -> tuple:
        if self.total_steps is not None and self.params.get("steps") is None:
            fit_steps = None  # endless data: fit's length is the user's business
        else:
            fit_steps = fit_total_steps(self.params, self.epochs, self.steps_per_epoch, "OneCycleLR", optimizer)
        total_steps = self.total_steps or fit_steps
        if fit_steps is not None and fit_steps > total_steps:
            warnings.warn(
                f"OneCycleLR: fit runs {fit_steps} optimizer steps but the cycle "
                f"has total_steps={total_steps}; past it the learning rate holds "
                "at its final value (torch raises here).",
                UserWarning,
                stacklevel=2,
            )
        if self.total_steps is None:  # with a fixed total, __init__ already built them
            self._build(total_steps)
        return self.schedule, self.momentum_schedule
