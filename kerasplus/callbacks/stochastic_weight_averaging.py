"""`StochasticWeightAveraging`: average the weights of the last epochs (Izmailov et al. 2018)."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from kerasplus import _optimizer_choice
from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras
from kerasplus.callbacks._schedule_callback import ScheduleCallback, StartedSchedule
from kerasplus.callbacks.update_bn import batch_norm_layers, update_bn
from kerasplus.schedules.swa_lr import SWALR


class StochasticWeightAveraging(ScheduleCallback):
    """Stochastic weight averaging, with the BatchNormalization statistics recomputed at the end.

    Lightning's ``StochasticWeightAveraging`` over torch's ``swa_utils``
    (``AveragedModel``, ``SWALR``, ``update_bn``). From epoch `swa_start` on,
    the trainable weights are averaged at every epoch end (equal weights, a
    running mean as in ``AveragedModel``). With a `swa_lr` the learning rate
    follows torch's ``SWALR`` from that epoch: it anneals from the rate the
    optimizer had there (its constant rate, or its schedule's value: any Keras
    or kerasplus schedule, or one a callback earlier in the list installed) to
    `swa_lr` over `anneal_epochs` epochs (``"cos"`` or ``"linear"``), one value
    per epoch, then stays at `swa_lr`; the rate is read in the compiled step
    (``jit_compile`` safe). With ``swa_lr=None`` the optimizer's rate is left
    alone (use a schedule that ends the way you want, e.g. a
    `kerasplus.schedules.Join` of a decay and a constant).

    When `fit` ends the model gets the averaged weights, and then, when it has
    trainable BatchNormalization layers, their statistics are recomputed from
    `bn_data` by `update_bn` (torch's ``update_bn``; see it for the variance
    convention). `bn_data` is needed then (a callback cannot see the data
    `fit` reads): without it, `fit` refuses to start. The averaged weights are
    also kept in `average` (None before any epoch was averaged).

    With Keras's own EMA (an optimizer with ``use_ema=True``): SWA averages
    what the model holds at each of its epoch ends. Put after
    ``keras.callbacks.SwapEMAWeights(swap_on_epoch=True)`` in the list, that is
    Keras's EMA weights (SWA over the EMA); anywhere else, the raw weights.
    Keras writes the EMA into the model when `fit` ends, before the callbacks'
    `on_train_end`, so the model ends with the SWA average either way; the
    EMA is not recomputed or reimplemented here.

    Its state (the running average, the epochs averaged, where the schedule
    started) is saved by `kerasplus.callbacks.BackupAndRestore`, so a resumed
    `fit` continues the same average.

    Args:
        swa_start: first epoch averaged: an epoch index (int >= 0) or a fraction
            of the fit in (0, 1), turned into ``int(swa_start * (epochs - 1))``
            as Lightning does.
        swa_lr: the rate of the averaging phase (> 0), or None to leave the
            optimizer's rate as it is.
        anneal_epochs: epochs from the rate at `swa_start` to `swa_lr`, >= 0.
        anneal_strategy: ``"cos"`` or ``"linear"``.
        bn_data: the training inputs for `update_bn` (an array, an ``(x, y)``
            tuple, a `tf.data.Dataset` or an iterable of batches); None for a
            model without trainable BatchNormalization layers.
        bn_batch_size: batch size `update_bn` uses for array `bn_data`, >= 1.
        optimizer: the optimizer whose rate `swa_lr` anneals, as in `OneCycleLR`
            (an optimizer the model holds or the name of its attribute); only
            needed with a `swa_lr` on a model holding several optimizers.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> swa = kerasplus.callbacks.StochasticWeightAveraging(swa_start=2, swa_lr=0.05, anneal_epochs=1)
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=4, verbose=0, callbacks=[swa])
    >>> swa.averaged_epochs, [round(float(swa.schedule(step)), 6) for step in range(4)]  # one step per epoch
    (2, [0.1, 0.1, 0.1, 0.05])
    """

    def __init__(
        self,
        swa_start: int | float = 0.8,
        swa_lr: float | None = None,
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        bn_data: Any = None,
        bn_batch_size: int = 32,
        optimizer: keras.optimizers.Optimizer | str | None = None,
    ) -> None:
        super().__init__(cycle_momentum=False, optimizer=optimizer)
        if isinstance(swa_start, bool) or not isinstance(swa_start, (int, float, np.integer, np.floating)):
            raise TypeError(
                "`swa_start` must be an epoch index (int >= 0) or a fraction of the fit in (0, 1); "
                f"received swa_start={swa_start!r} of type {type(swa_start).__name__}."
            )
        if isinstance(swa_start, (int, np.integer)):
            self.swa_start = v.check_int("swa_start", swa_start, minimum=0, maximum=v.MAX_STEPS)
        else:
            self.swa_start = v.check_range("swa_start", swa_start, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
        self.swa_lr = None if swa_lr is None else v.check_float32_positive("swa_lr", swa_lr)
        self.anneal_epochs = v.check_int("anneal_epochs", anneal_epochs, minimum=0, maximum=v.MAX_STEPS)
        self.anneal_strategy = v.check_choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
        self.bn_data = bn_data
        self.bn_batch_size = v.check_int("bn_batch_size", bn_batch_size, minimum=1)
        self.average = None
        self.averaged_epochs = 0
        self.schedule = None

    def get_config(self) -> dict:
        return {
            "swa_start": self.swa_start,
            "swa_lr": self.swa_lr,
            "anneal_epochs": self.anneal_epochs,
            "anneal_strategy": self.anneal_strategy,
            "bn_data": None,  # data, not configuration
            "bn_batch_size": self.bn_batch_size,
            "optimizer": _optimizer_choice.config_value(self.optimizer),
        }

    # ---------------------------------------------------------------- state

    def get_state(self) -> dict:
        """The running average and the epochs in it, plus where the schedule started."""
        return {
            **super().get_state(),
            "averaged_epochs": self.averaged_epochs,
            "average": None if self.average is None else [np.array(a) for a in self.average],
        }

    def set_state(self, state: dict) -> None:
        average = state["average"]
        count = int(state["averaged_epochs"])
        if average is not None:
            shapes = [tuple(w.shape) for w in self.model.trainable_variables]
            if [tuple(np.shape(a)) for a in average] != shapes:
                raise ValueError("the saved average does not match this model's trainable variables")
        super().set_state(state)
        self.averaged_epochs = count
        self.average = None if average is None else [np.asarray(a, dtype=np.float64) for a in average]

    # ---------------------------------------------------------------- fit hooks

    def start_epoch(self) -> int:
        """The first epoch averaged in this fit (`swa_start` as an epoch index)."""
        if isinstance(self.swa_start, int):
            return self.swa_start
        return int(self.swa_start * (int(self.params["epochs"]) - 1))

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.swa_lr is not None:  # only then is an optimizer's rate driven (and must be chosen)
            super().on_train_begin(logs)
        self.average, self.averaged_epochs = None, 0
        if self.bn_data is None and batch_norm_layers(self.model):
            names = [layer.name for layer in batch_norm_layers(self.model)]
            raise ValueError(
                f"StochasticWeightAveraging needs `bn_data` to recompute the statistics of the model's "
                f"BatchNormalization layers {names} for the averaged weights; received bn_data=None. "
                "Pass the training inputs (bn_data=x_train, or the training dataset)."
            )
        if self.start_epoch() >= int(self.params["epochs"]):
            warnings.warn(
                f"StochasticWeightAveraging: swa_start={self.swa_start} is epoch {self.start_epoch()}, but this "
                f"fit has {self.params['epochs']} epochs: nothing will be averaged.",
                UserWarning,
                stacklevel=2,
            )

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.swa_lr is not None:
            super().on_epoch_begin(epoch, logs)

    def make_schedules(self, optimizer: keras.optimizers.Optimizer) -> tuple:
        steps = self.params.get("steps")
        if steps is None:
            raise ValueError(
                "StochasticWeightAveraging with a swa_lr cannot tell how many steps an epoch has (the data has "
                "no known length); pass steps_per_epoch to fit."
            )
        current = internal_keras.learning_rate_source(optimizer)
        if isinstance(current, StartedSchedule):
            current = current.schedule  # installed by a callback earlier in the list: counts from this fit's start
        if isinstance(current, keras.Variable):
            current = float(ops.convert_to_numpy(current))
        elif not isinstance(current, keras.optimizers.schedules.LearningRateSchedule):
            raise TypeError(
                "StochasticWeightAveraging anneals from a float learning rate or a LearningRateSchedule; "
                f"the optimizer's learning_rate is {current!r}."
            )
        self.schedule = SWALR(
            current, self.start_epoch() * int(steps), int(steps), self.swa_lr, self.anneal_epochs, self.anneal_strategy
        )
        return self.schedule, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if epoch < self.start_epoch():
            return
        weights = [np.asarray(ops.convert_to_numpy(w), dtype=np.float64) for w in self.model.trainable_variables]
        if self.average is None:
            self.average = weights
        else:
            n = self.averaged_epochs
            self.average = [a + (w - a) / (n + 1) for a, w in zip(self.average, weights)]
        self.averaged_epochs += 1

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.swa_lr is not None:  # nothing of an optimizer to put back otherwise
            super().on_train_end(logs)
        if self.average is None:
            return
        for variable, value in zip(self.model.trainable_variables, self.average):
            variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
        if self.bn_data is not None:
            update_bn(self.model, self.bn_data, self.bn_batch_size)
