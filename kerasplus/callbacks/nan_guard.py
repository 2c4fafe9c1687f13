"""`NaNGuard`: undo a step that made the loss or the weights non-finite, and give up cleanly."""

from __future__ import annotations

import logging
import math
import warnings

import keras
from keras import ops

from kerasplus import _optimizer_choice
from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras

logger = logging.getLogger(__name__)


class NaNGuard(keras.callbacks.Callback):
    """Restores the last good weights and optimizer state after a NaN/inf step.

    After every batch it checks the batch loss and (with `check_weights`) the
    trainable weights. While they are finite it keeps a copy of the model's
    variables, the variables of every optimizer the model holds (slots and
    iteration counts: a GAN's ``d_optimizer`` and ``g_optimizer`` too) and the
    metric accumulators — an on-device copy, no transfer to the host. When they
    are not, it puts that copy back: the step is undone as if the batch had
    been skipped (the iteration count, and with it any schedule, does not
    advance). With ``lr_factor < 1`` the learning rate is then multiplied by
    `lr_factor` (a float learning rate only; a schedule is left alone, with a
    warning). After `max_consecutive` failed steps in a row it stops training
    with a message saying so, and `stopped_reason` holds the message.

    Like `keras.callbacks.TerminateOnNaN` it reads the loss after every batch,
    which waits for the step to finish: a small cost on CPU, noticeable on an
    accelerator with `steps_per_execution=1`. With ``steps_per_execution=k``
    a failure undoes all k steps of the call.

    When every step of an epoch was undone, the epoch's training metrics
    (``loss`` and the compiled metrics, not ``val_*``) are reported as NaN,
    with a warning, instead of Keras's 0.0 for a mean over no batch (History
    and the callbacks after this one see NaN).

    Put it before `kerasplus.callbacks.BackupAndRestore` in the callback
    list so a checkpoint is written after the repair (BackupAndRestore also
    refuses to write non-finite weights on its own).

    Args:
        max_consecutive: failed steps in a row before training stops (>= 1).
        lr_factor: factor in (0, 1] applied to the learning rate after each
            failure; 1 keeps it.
        check_weights: also check the trainable weights (the loss of a step is
            computed before its update, so weights can turn NaN first).
        optimizer: the optimizer whose rate `lr_factor` lowers: one the model
            holds, or the name of its attribute (``"g_optimizer"``); None
            takes the model's only optimizer. With ``lr_factor < 1`` and
            several optimizers, `fit` raises at its start unless one is named.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    >>> x[4] = np.nan  # one poisoned sample: the batch holding it is undone
    >>> guard = kerasplus.callbacks.NaNGuard(lr_factor=0.5)
    >>> history = model.fit(x, y, batch_size=2, shuffle=False, verbose=0,
    ...                     callbacks=[guard])
    >>> guard.failures, round(float(model.optimizer.learning_rate), 6)
    (1, 0.05)
    """

    def __init__(
        self,
        max_consecutive: int = 3,
        lr_factor: float = 1.0,
        check_weights: bool = True,
        optimizer: keras.optimizers.Optimizer | str | None = None,
    ) -> None:
        super().__init__()
        self.optimizer = _optimizer_choice.check_optimizer_argument(optimizer)
        self.max_consecutive = v.check_int("max_consecutive", max_consecutive, minimum=1)
        self.lr_factor = v.check_range("lr_factor", lr_factor, 0.0, 1.0, low_inclusive=False)
        self.check_weights = v.check_bool("check_weights", check_weights)
        self.failures = 0
        self.consecutive = 0
        self.stopped_reason = None
        self._snapshot = []
        self._good_steps = 0

    def get_config(self) -> dict:
        return {
            "max_consecutive": self.max_consecutive,
            "lr_factor": self.lr_factor,
            "check_weights": self.check_weights,
            "optimizer": _optimizer_choice.config_value(self.optimizer),
        }

    def get_state(self) -> dict:
        return {"failures": self.failures, "consecutive": self.consecutive}

    def set_state(self, state: dict) -> None:
        self.failures = int(state["failures"])
        self.consecutive = int(state["consecutive"])

    def _lowered(self):
        """The optimizer whose rate `lr_factor` lowers (None when it lowers none)."""
        if self.lr_factor >= 1.0:
            return None
        return _optimizer_choice.chosen_optimizer(self.model, self.optimizer, "NaNGuard")

    def _guarded(self):
        model = self.model
        optimizer = model.optimizer
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        lowered = self._lowered()
        rate = internal_keras.learning_rate_source(lowered) if lowered is not None else None
        variables = list(model.variables) + list(model.metrics_variables)
        for held in _optimizer_choice.tracked_optimizers(model).values():  # a GAN's d_ and g_optimizer too
            variables += [x for x in held.variables if x is not rate]  # the rate is ours to lower
        return variables

    def _take_snapshot(self):
        self._snapshot = [(x, ops.copy(x.value)) for x in self._guarded()]

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._lowered()  # raises now, before training, when it cannot tell which rate to lower
        self.consecutive = 0
        self.stopped_reason = None
        self._good_steps = 0
        self._take_snapshot()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._good_steps = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._good_steps or logs is None:
            return
        undone = [name for name in logs if not name.startswith("val_") and name not in ("learning_rate", "lr")]
        for name in undone:
            logs[name] = float("nan")
        warnings.warn(
            f"NaNGuard: every step of epoch {epoch} was undone; its {', '.join(undone) or 'metrics'} "
            "are reported as NaN.",
            RuntimeWarning,
            stacklevel=2,
        )

    def _finite(self, logs):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return False, f"loss {float(loss)}"
        if self.check_weights:
            flags = [ops.all(ops.isfinite(x.value)) for x in self.model.trainable_variables]
            if flags and not bool(ops.convert_to_numpy(ops.all(ops.stack(flags)))):
                bad = [x.path for x, ok in zip(self.model.trainable_variables, flags) if not bool(ok)]
                return False, f"non-finite weights in {', '.join(bad)}"
        return True, ""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        finite, what = self._finite(logs)
        if finite:
            self.consecutive = 0
            self._good_steps += 1
            self._take_snapshot()
            return
        self._restore()
        self.failures += 1
        self.consecutive += 1
        message = f"NaNGuard: {what} at batch {batch}; restored the weights and optimizer state from before it"
        if self.lr_factor < 1.0:
            message += self._lower_rate()
        logger.warning(message)
        if self.consecutive >= self.max_consecutive:
            self.stopped_reason = (
                f"NaNGuard stopped training: {self.consecutive} consecutive steps gave a "
                f"non-finite loss or weights (last: {what}). The weights are those of the "
                "last finite step. Lower the learning rate, clip gradients "
                "(optimizer clipnorm=...), or look for NaN/inf in the inputs."
            )
            warnings.warn(self.stopped_reason, RuntimeWarning, stacklevel=2)
            self.model.stop_training = True

    def _restore(self):
        # On JAX, fit's own copy of the state must be written back first, or it overwrites what is assigned here.
        internal_keras.sync_training_state(self.model)
        kept = {id(x) for x, _ in self._snapshot}
        for variable, value in self._snapshot:
            variable.assign(ops.copy(value))  # a copy: JAX's next step donates (deletes) the variables' buffers
        for variable in self.model.metrics_variables:  # created after the snapshot (first step)
            if id(variable) not in kept:
                variable.assign(ops.zeros(variable.shape, variable.dtype))

    def _lower_rate(self):
        optimizer = self._lowered()
        if not isinstance(optimizer.learning_rate, keras.Variable):  # a schedule gives a tensor
            warnings.warn(
                "NaNGuard: the learning rate is a schedule; lr_factor cannot lower it.",
                UserWarning,
                stacklevel=3,
            )
            return ""
        rate = float(ops.convert_to_numpy(optimizer.learning_rate)) * self.lr_factor
        optimizer.learning_rate = rate
        return f"; learning rate lowered to {rate:g}"
