"""How the workers of a multi-worker run agree on the batch boundary at which all of them save and stop.

When one worker (or several) gets a termination signal, every worker must
write its checkpoint after the same step, or the restored workers would
disagree and the next collective would fail. This is the protocol of
`tf.distribute.experimental.PreemptionCheckpointHandler`, over the key-value
store of TensorFlow's coordination service (`_internals.tensorflow`), with
keys of this `fit` only:

1. A signalled worker, at its next batch boundary ``n`` (counted from the
   start of this `fit`, the same on every worker), inserts
   ``stop_at = "n+1:<signal>"``. A store key can be inserted once, so of
   several signalled workers the first one wins; the others see its value.
2. Every worker has a thread waiting for ``stop_at``; it records the value,
   then inserts its own ``ack/<task>`` key.
3. The signalled worker waits for the acknowledgements of all workers before
   it trains step ``n+1``. Each step of `MultiWorkerMirroredStrategy`
   all-reduces the gradients, so no worker can finish step ``n+1`` before the
   signalled one starts it: at boundary ``n+1`` every worker knows, and all
   stop there.

Nothing runs in the training thread at a batch boundary but an `Event`
check, unless a signal came. A `fit` that ends inserts ``stop_at = "done"``
(wakes the threads; a later signal on a worker still in its last step finds
the key taken and does not wait for workers that are gone).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time

ACK_TIMEOUT_S = 20.0  # how long a signalled worker waits for the others' acknowledgements
_POLL_S = 1.0  # the waiting thread asks again this often, so that it ends with the fit even if "done" never comes
_DONE = "done"
_FITS = itertools.count()  # every worker runs the same fits in the same order, so the same numbers
_OPEN = []  # agreements not closed (their fit died of an error): the task's next one ends their threads

logger = logging.getLogger("kerasplus.callbacks")


class StopAgreement:
    """One `fit`'s agreement on the step to stop at, between the tasks named in `tasks`.

    Args:
        store: ``insert(key, value) -> bool`` (False when the key exists) and
            ``get(key, timeout_s) -> str | None``: the cluster's key-value
            store (`_internals.tensorflow.coordination_*`).
        task: this worker's name, e.g. ``"worker-1"``.
        tasks: the names of all workers.
        fit_id: the same number on every worker for the same `fit`
            (default: the count of agreements made in this process).
    """

    def __init__(self, store, task: str, tasks, fit_id: int | None = None) -> None:
        self._store = store
        self.task = task
        self.tasks = tuple(tasks)
        fit = next(_FITS) if fit_id is None else fit_id
        self._prefix = f"kerasplus/BackupAndRestore/fit-{fit}/"
        self._agreed = threading.Event()
        self._closed = threading.Event()
        self.target = None  # (boundary, signal) once known
        self._claimed = False
        for stale in [a for a in _OPEN if a.task == task]:
            stale.end_watch()  # a worker runs one fit at a time: theirs is over
            _OPEN.remove(stale)
        _OPEN.append(self)
        self._thread = threading.Thread(target=self._watch, name=f"kerasplus-stop-watch-{task}", daemon=True)
        self._thread.start()

    def at_boundary(self, boundary: int, received: int | None) -> int | None:
        """Called after every batch of this `fit` (`boundary`: 1 after the first).

        `received`: the signal this worker got, if any. Returns the signal
        to stop with when every worker stops at this boundary, else None.
        """
        if self._agreed.is_set():
            stop_at, signum = self.target
            return signum if boundary >= stop_at else None
        if received is None or self._claimed:
            return None
        self._claimed = True
        if not self._store.insert(self._prefix + "stop_at", f"{boundary + 1}:{int(received)}"):
            return None  # another worker claimed first (it waits for our acknowledgement), or the fit ended there
        missing = self._wait_for_acknowledgements()
        if missing:
            logger.warning(
                "BackupAndRestore: %s did not acknowledge the stop within %.0f s; stopping here, at batch "
                "boundary %d (the workers resume from the newest checkpoint all of them have).",
                ", ".join(missing),
                ACK_TIMEOUT_S,
                boundary,
            )
            self.target = (boundary, int(received))
            self._agreed.set()
            return int(received)
        return None

    def _wait_for_acknowledgements(self):
        deadline = time.monotonic() + ACK_TIMEOUT_S
        missing = []
        for task in self.tasks:
            if self._store.get(self._prefix + "ack/" + task, max(0.001, deadline - time.monotonic())) is None:
                missing.append(task)
        return missing

    def _watch(self):
        while not self._closed.is_set():
            try:
                value = self._store.get(self._prefix + "stop_at", _POLL_S)
            except Exception as error:  # noqa: BLE001 - the cluster is going away; nothing left to agree on
                logger.debug("BackupAndRestore: stop watcher of %s ends: %s", self.task, error)
                return
            if value is None:
                continue
            if value != _DONE:
                stop_at, signum = (int(part) for part in value.split(":"))
                self.target = (stop_at, signum)  # before the event: read as soon as it is set
                self._agreed.set()
                try:
                    self._store.insert(self._prefix + "ack/" + self.task, "1")
                except Exception as error:  # noqa: BLE001 - the signalled worker then stops on its own
                    logger.debug("BackupAndRestore: %s could not acknowledge the stop: %s", self.task, error)
            return

    def end_watch(self) -> None:
        """Stops the watching thread only (a later `fit` of this worker replaces this agreement)."""
        self._closed.set()

    def close(self) -> None:
        """Ends this agreement (the `fit` is over on this worker): marks the key taken, stops the thread."""
        self._closed.set()
        if self in _OPEN:
            _OPEN.remove(self)
        try:
            self._store.insert(self._prefix + "stop_at", _DONE)
        except Exception as error:  # noqa: BLE001 - the cluster may be gone already
            logger.debug("BackupAndRestore: could not close the stop agreement: %s", error)
        self._thread.join(timeout=_POLL_S + 1.0)
