"""`Timer`: stop `fit` cleanly when a wall-clock budget is spent (Lightning's ``Timer``)."""

from __future__ import annotations

import datetime
import logging
import math
import numbers
import re
from time import monotonic

import keras

from kerasplus import _validation as v

logger = logging.getLogger(__name__)

INTERVALS = ("step", "epoch")
_CLOCK = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d*)?)$")


def _seconds(duration) -> float:
    """`duration` in seconds: a number, a `datetime.timedelta`, a dict of timedelta fields or "DD:HH:MM:SS"."""
    if isinstance(duration, datetime.timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, dict):
        try:
            seconds = datetime.timedelta(**duration).total_seconds()
        except (TypeError, OverflowError, ValueError) as error:
            raise TypeError(
                "`duration` as a dict must hold datetime.timedelta fields (days, hours, minutes, seconds, ...) "
                f"with numbers; received duration={duration!r} ({error})."
            ) from None
    elif isinstance(duration, str):
        match = _CLOCK.match(duration.strip())
        if match is None:
            raise ValueError(
                f'`duration` as a string must be "DD:HH:MM:SS" (as Lightning writes it); received duration={duration!r}.'
            )
        days, hours, minutes, secs = match.groups()
        seconds = int(days) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(secs)
    elif isinstance(duration, bool) or not isinstance(duration, numbers.Real):
        raise TypeError(
            "`duration` must be a number of seconds, a datetime.timedelta, a dict of timedelta fields or a "
            f'"DD:HH:MM:SS" string; received duration={duration!r} of type {type(duration).__name__}.'
        )
    else:
        seconds = v.check_number("duration", duration)
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"`duration` must be a time budget > 0; received duration={duration!r} ({seconds} s).")
    return float(seconds)


class Timer(keras.callbacks.Callback):
    """Stops `fit` once a wall-clock budget is spent, at a batch (or epoch) boundary.

    Lightning's ``Timer``. The clock starts in `on_train_begin`; after each
    batch (``interval="step"``) or epoch (``"epoch"``) it compares the time
    spent with `duration` and, once it is spent, sets
    ``model.stop_training``: Keras finishes that step, runs the epoch's end
    (validation too, if any: budget for it) and `on_train_end`, and `fit`
    returns normally. The remaining time (seconds, >= 0) is added to the epoch
    logs as ``time_remaining``, so `History` and `CSVLogger` record it (put
    the timer before them in the list).

    With `kerasplus.callbacks.BackupAndRestore` in the same callback list, a
    stop by the timer is a pause, not an end: the backup writes a checkpoint
    at the batch where the timer stopped (numpy arrays, `tf.data` and the
    other inputs it can put back mid-epoch; for the others the last epoch-end
    checkpoint is kept, with a warning), does not write an epoch-end
    checkpoint for the cut epoch, and keeps its checkpoints even with
    ``delete_checkpoint=True``, so running the same script again resumes at
    that batch. The timer's own state (the time spent) is saved with the
    checkpoint under ``state_key`` (``"Timer"``). By default each run gets the
    whole `duration` (a session budget: a rerun resumes and trains for
    `duration` again); with ``count_previous_runs=True`` the time the restored
    runs spent counts too, as in Lightning, so the budget covers the whole
    training across restarts.

    Args:
        duration: the budget: seconds (> 0), a `datetime.timedelta`, a dict of
            timedelta fields (``{"hours": 11, "minutes": 30}``) or a
            ``"DD:HH:MM:SS"`` string.
        interval: ``"step"`` (check after every batch) or ``"epoch"``.
        count_previous_runs: add the time spent by the runs a
            `BackupAndRestore` resumes from.
        verbose: log (or print, with interactive logging) when the budget
            stops `fit`.

    Example:

    >>> import numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> timer = kerasplus.callbacks.Timer(duration={"minutes": 5}, verbose=False)
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0, callbacks=[timer])
    >>> timer.expired, 0 < history.history["time_remaining"][-1] <= 300
    (False, True)
    """

    def __init__(
        self,
        duration: float | datetime.timedelta | dict | str,
        interval: str = "step",
        count_previous_runs: bool = False,
        verbose: bool = True,
    ) -> None:
        super().__init__()
        self.duration = duration
        self._budget = _seconds(duration)
        self.interval = v.check_choice("interval", interval, INTERVALS)
        self.count_previous_runs = v.check_bool("count_previous_runs", count_previous_runs)
        self.verbose = v.check_bool("verbose", verbose)
        self.state_key = "Timer"
        self._start = None
        self._previous = 0.0
        self._stopped_at = None
        self.expired = False

    def get_config(self) -> dict:
        duration = self.duration
        if isinstance(duration, datetime.timedelta):
            duration = duration.total_seconds()
        elif isinstance(duration, numbers.Real):
            duration = float(duration)
        return {
            "duration": duration,
            "interval": self.interval,
            "count_previous_runs": self.count_previous_runs,
            "verbose": self.verbose,
        }

    # ---------------------------------------------------------------- clock

    def _own(self) -> float:
        if self._start is None:
            return 0.0
        return (monotonic() if self._stopped_at is None else self._stopped_at) - self._start

    def time_elapsed(self) -> float:
        """Seconds this budget has spent: this run's, plus the restored runs' with `count_previous_runs`."""
        return self._own() + (self._previous if self.count_previous_runs else 0.0)

    def time_remaining(self) -> float:
        """Seconds left of `duration` (0 once spent)."""
        return max(self._budget - self.time_elapsed(), 0.0)

    # ---------------------------------------------------------------- state

    def get_state(self) -> dict:
        """The time spent so far, all runs together (what `BackupAndRestore` saves)."""
        return {"elapsed": float(self._own() + self._previous)}

    def set_state(self, state: dict) -> None:
        elapsed = float(state["elapsed"])
        if not (math.isfinite(elapsed) and elapsed >= 0):
            raise ValueError(f"a Timer state holds elapsed={elapsed!r}; it must be a number of seconds >= 0.")
        self._previous = elapsed

    # ---------------------------------------------------------------- fit hooks

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._start, self._stopped_at, self._previous, self.expired = monotonic(), None, 0.0, False

    def _check(self, where):
        if self.expired or self.time_elapsed() < self._budget:
            return
        self.expired = True
        self._stopped_at = monotonic()
        self.model.stop_training = True
        message = f"Timer: the time budget of {self._budget:g} s is spent; stopping fit {where}."
        if self.verbose:
            if keras.config.is_interactive_logging_enabled():
                print(message)
            else:
                logger.info(message)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.interval == "step":
            self._check(f"after batch {batch}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.interval == "epoch":
            self._check(f"after epoch {epoch}")
        if logs is not None:
            logs["time_remaining"] = self.time_remaining()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._stopped_at is None:
            self._stopped_at = monotonic()
