"""`EarlyStopping`: Keras's, plus Prechelt's stopping criteria, smoothing and resumable state."""

from __future__ import annotations

import keras
import numpy as np

from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras
from kerasplus.callbacks._callback_state import (
    _keras_early_stopping_state,
    _set_keras_early_stopping_state,
)

CRITERIA = ("patience", "gl", "pq", "up")
_HOST_COMPARISONS = {keras.ops.less: np.less, keras.ops.greater: np.greater}


class EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's `EarlyStopping` with Prechelt's criteria, smoothing and a state protocol.

    With ``criterion="patience"`` (the default) it behaves as
    `keras.callbacks.EarlyStopping` with the same arguments. The other criteria
    follow L. Prechelt, "Early Stopping — But When?" (1998), with `E_va` the
    monitored value (lower is better, > 0) and `E_tr` the training value
    `train_monitor`, one value per epoch counted from `start_from_epoch`:

    - ``"gl"``: generalization loss ``GL(t) = 100 * (E_va(t) / E_opt(t) - 1)``
      with ``E_opt(t)`` the lowest `E_va` so far; stops after the first epoch
      with ``GL(t) > alpha``.
    - ``"pq"``: progress quotient. Over a strip of `strip_length` = k epochs,
      ``P_k(t) = 1000 * (sum(E_tr strip) / (k * min(E_tr strip)) - 1)``;
      stops at the end of the first strip with ``GL(t) / P_k(t) > alpha``.
    - ``"up"``: stops at the end of the strip where `E_va` has gone up
      (against the end of the previous strip) for `alpha` successive strips
      (Prechelt's UP_s with s = alpha, an integer).

    `patience` and `baseline` apply to ``"patience"`` only. ``smoothing=b``
    replaces the monitored value by its exponential moving average
    ``s_t = b * s_(t-1) + (1 - b) * x_t`` (``s_0 = x_0``) before any criterion
    or best-epoch comparison. With ``restore_best_weights=True`` the weights of
    the best (smoothed) epoch are restored when `fit` ends, whether a criterion
    stopped it or it ran all its epochs.

    `get_state()` / `set_state()` expose the counters, the curve seen so far and
    the best weights, so `kerasplus.callbacks.BackupAndRestore` resumes it.

    Args:
        monitor: as in `keras.callbacks.EarlyStopping`.
        min_delta: as in `keras.callbacks.EarlyStopping`.
        patience: as in `keras.callbacks.EarlyStopping`.
        verbose: as in `keras.callbacks.EarlyStopping`.
        mode: as in `keras.callbacks.EarlyStopping`.
        baseline: as in `keras.callbacks.EarlyStopping`.
        restore_best_weights: as in `keras.callbacks.EarlyStopping`.
        start_from_epoch: as in `keras.callbacks.EarlyStopping`.
        criterion: one of ``"patience"``, ``"gl"``, ``"pq"``, ``"up"``.
        alpha: threshold of ``"gl"``/``"pq"`` (> 0), number of successive
            strips for ``"up"`` (integer >= 1). Defaults: 5 (gl), 0.5 (pq),
            3 (up), Prechelt's middle settings.
        strip_length: k, the strip length in epochs for ``"pq"``/``"up"`` (>= 1).
        smoothing: EMA factor in [0, 1); 0 turns smoothing off.
        train_monitor: the training quantity for ``"pq"``; defaults to
            `monitor` without its ``val_`` prefix.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> stop = kerasplus.callbacks.EarlyStopping(criterion="gl", alpha=5.0)
    >>> x, y = np.ones((8, 2)), np.ones((8, 1))
    >>> history = model.fit(x, y, validation_data=(x, y), epochs=3, verbose=0,
    ...                     callbacks=[stop])
    >>> stop.get_state()["criterion"]
    'gl'
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
        criterion: str = "patience",
        alpha: float | None = None,
        strip_length: int = 5,
        smoothing: float = 0.0,
        train_monitor: str | None = None,
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"`monitor` must be a metric name; received monitor={monitor!r}.")
        v.check_number("min_delta", min_delta)
        v.check_int("patience", patience, minimum=0)
        v.check_choice("mode", mode, ("auto", "min", "max"))
        if baseline is not None:
            v.check_number("baseline", baseline)
        v.check_bool("restore_best_weights", restore_best_weights)
        v.check_int("start_from_epoch", start_from_epoch, minimum=0)
        super().__init__(
            monitor=monitor,
            min_delta=min_delta,
            patience=patience,
            verbose=verbose,
            mode=mode,
            baseline=baseline,
            restore_best_weights=restore_best_weights,
            start_from_epoch=start_from_epoch,
        )
        self.criterion = v.check_choice("criterion", criterion, CRITERIA)
        if criterion in ("gl", "pq") and mode == "max":
            raise ValueError(
                f"`criterion={criterion!r}` is defined for an error that goes down "
                "(Prechelt's E_va > 0); received mode='max'. Monitor a loss or "
                "error with mode='min' or 'auto', or use criterion='up'/'patience'."
            )
        if alpha is None:
            alpha = {"patience": None, "gl": 5.0, "pq": 0.5, "up": 3}[criterion]
        if criterion == "up":
            alpha = v.check_int("alpha", alpha, minimum=1)
        elif alpha is not None:
            alpha = v.check_positive("alpha", alpha)
        self.alpha = alpha
        self.strip_length = v.check_int("strip_length", strip_length, minimum=1)
        self.smoothing = v.check_range("smoothing", smoothing, 0.0, 1.0, high_inclusive=False)
        if train_monitor is not None and (not isinstance(train_monitor, str) or not train_monitor):
            raise ValueError(
                f"`train_monitor` must be a metric name or None; received train_monitor={train_monitor!r}."
            )
        self.train_monitor = train_monitor or monitor.removeprefix("val_")
        self._validation_unknown = False
        self._reset_curve()

    def _reset_curve(self):
        self._ema = None
        self._va = []  # monitored (smoothed) values, one per evaluated epoch
        self._tr = []  # training values (criterion "pq")
        self._ups = 0  # successive strips whose end went up (criterion "up")

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        self._reset_curve()
        self._validation_unknown = False
        if self.monitor.startswith("val_"):  # a val_ monitor in a fit without validation would never stop
            validates = internal_keras.running_fit_validates()
            if validates is False:
                raise ValueError(self._no_validation_message())
            self._validation_unknown = validates is None  # no fit frame found: the first epoch's logs tell

    def _no_validation_message(self):
        return (
            f"EarlyStopping monitors {self.monitor!r}, but this fit has no validation data, so it would never stop. "
            f"To fix: pass validation_data=(x_val, y_val) or validation_split=0.2 to fit, or monitor="
            f"{self.monitor.removeprefix('val_')!r}."
        )

    def _smoothed(self, value):
        value = np.asarray(value)
        if value.size != 1:
            raise ValueError(
                f"EarlyStopping needs a single number to monitor; {self.monitor!r} has shape {value.shape} "
                "(a per-class metric?). Monitor an averaged metric, e.g. F1Score(average='macro')."
            )
        value = float(value.reshape(()))
        if self.smoothing:
            self._ema = value if self._ema is None else self.smoothing * self._ema + (1.0 - self.smoothing) * value
            return self._ema
        return value

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self._validation_unknown and not any(key.startswith("val_") for key in logs):
            raise ValueError(self._no_validation_message())
        self._validation_unknown = False
        raw = self.get_monitor_value(logs)
        if raw is None or epoch < self.start_from_epoch:
            return
        current = self._smoothed(raw)
        if self.monitor_op is None:
            internal_keras.set_monitor_op(self)
        if self.criterion == "patience":
            self._patience_epoch(epoch, current)
            return
        if self.monitor_op is keras.ops.greater and self.criterion != "up":
            raise ValueError(
                f"criterion={self.criterion!r} needs a quantity that goes down, but "
                f"{self.monitor!r} is maximized; use criterion='up' or 'patience'."
            )
        self._va.append(current)
        if self.criterion == "pq":
            train = logs.get(self.train_monitor)
            if train is None:
                raise ValueError(
                    f"criterion='pq' needs the training quantity {self.train_monitor!r} in "
                    f"the epoch logs; available: {sorted(logs)}. Pass train_monitor=..."
                )
            self._tr.append(float(train))
        self._track_best(epoch, current)
        if self._should_stop():
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def _patience_epoch(self, epoch, current):
        """Keras's rule (`keras.callbacks.EarlyStopping.on_epoch_end`), its comparisons made on the host."""
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # never set: the current weights are the best
            self.best_epoch = epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0  # beat both the baseline and the best so far
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def _track_best(self, epoch, current):
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        if self._improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()

    def _improves(self, current, reference):
        """Keras's rule: better than `reference` by more than `min_delta` (`monitor_op` and its sign set).

        Decided as Keras's ``ops.less``/``ops.greater`` decide it, both sides in `floatx`
        (float32 ties included), but with numpy on the host: the backend op costs an eager
        dispatch and a device read every epoch (about 0.1 ms on JAX, 1 % of a small
        model's epoch).
        """
        if reference is None:
            return True
        host = _HOST_COMPARISONS.get(self.monitor_op)
        if host is None:  # a monitor_op set by hand
            return bool(self.monitor_op(current - self.min_delta, reference))
        cast = np.dtype(keras.backend.floatx()).type
        return bool(host(cast(current - self.min_delta), cast(reference)))

    def _generalization_loss(self):
        e_opt = min(self._va)
        if e_opt <= 0:
            raise ValueError(
                f"criterion={self.criterion!r} needs {self.monitor!r} > 0 (GL divides by "
                f"the lowest value so far); got {e_opt!r}."
            )
        return 100.0 * (self._va[-1] / e_opt - 1.0)

    def _should_stop(self):
        t = len(self._va)
        k = self.strip_length
        if self.criterion == "gl":
            return self._generalization_loss() > self.alpha
        if t % k:
            return False  # the criteria below are evaluated at strip ends only
        if self.criterion == "pq":
            strip = self._tr[-k:]
            progress = 1000.0 * (sum(strip) / (k * min(strip)) - 1.0)
            gl = self._generalization_loss()
            if progress <= 0:  # training has stalled: any GL > 0 is infinitely worse
                return gl > 0
            return gl / progress > self.alpha
        # "up": E_va at this strip end against the previous strip end.
        if t < 2 * k:
            return False
        went_up = (
            self._va[-1] > self._va[-1 - k] if self.monitor_op is keras.ops.less else self._va[-1] < self._va[-1 - k]
        )
        self._ups = self._ups + 1 if went_up else 0
        return self._ups >= self.alpha

    def get_state(self) -> dict:
        """What a resumed `fit` needs: counters, the curve so far, the best weights."""
        return {
            "criterion": self.criterion,
            **_keras_early_stopping_state(self),
            "ema": self._ema,
            "va": list(self._va),
            "tr": list(self._tr),
            "ups": int(self._ups),
        }

    def set_state(self, state: dict) -> None:
        """Restores what `get_state` returned (after this `fit`'s `on_train_begin`)."""
        if state.get("criterion", self.criterion) != self.criterion:
            raise ValueError(
                f"The saved EarlyStopping state is for criterion={state['criterion']!r}, "
                f"this callback has criterion={self.criterion!r}."
            )
        _set_keras_early_stopping_state(self, state)
        self._ema = state["ema"]
        self._va = [float(x) for x in state["va"]]
        self._tr = [float(x) for x in state["tr"]]
        self._ups = int(state["ups"])

    def get_config(self) -> dict:
        return {
            "monitor": self.monitor,
            "min_delta": abs(self.min_delta),
            "patience": self.patience,
            "verbose": self.verbose,
            "mode": self.mode,
            "baseline": self.baseline,
            "restore_best_weights": self.restore_best_weights,
            "start_from_epoch": self.start_from_epoch,
            "criterion": self.criterion,
            "alpha": self.alpha,
            "strip_length": self.strip_length,
            "smoothing": self.smoothing,
            "train_monitor": self.train_monitor,
        }
