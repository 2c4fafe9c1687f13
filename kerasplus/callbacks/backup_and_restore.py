"""`BackupAndRestore`: resume a killed `fit` exactly where it was, callback state included."""

from __future__ import annotations

import logging
import signal
import warnings
from collections.abc import Iterable

import keras

from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras
from kerasplus._internals import tensorflow as internal_tensorflow
from kerasplus.callbacks import (
    _accumulation,
    _background_write,
    _callback_state,
    _training_state,
    _worker_agreement,
)
from kerasplus.callbacks._checkpoint_store import CheckpointStore
from kerasplus.callbacks._data_position import DataCursor
from kerasplus.callbacks._preemption import Preempted, SignalCatcher
from kerasplus.callbacks._stop_agreement import StopAgreement
from kerasplus.callbacks.timer import Timer

_UNCATCHABLE = {signal.SIGKILL, signal.SIGSTOP}
logger = logging.getLogger(__name__)


class _AfterEveryCallback(keras.callbacks.Callback):
    """Appended to the running fit's callback list: runs `BackupAndRestore`'s saves after every callback."""

    def __init__(self, after_batch, after_epoch) -> None:
        super().__init__()
        self.after_batch = after_batch
        self.after_epoch = after_epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.after_batch(batch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.after_epoch(epoch)


class BackupAndRestore(keras.callbacks.Callback):
    """Drop-in for `keras.callbacks.BackupAndRestore` that resumes bit-exactly.

    Each checkpoint holds, in one ``.npz`` file written atomically (temporary
    file, fsync, `os.replace`): every model variable (weights and the
    `SeedGenerator` states of random layers and of the model's own, the
    preprocessing layers' state), the variables (iteration count, slots) of
    every optimizer the model holds: `model.optimizer` and any other in a
    model attribute (the Keras guide's GAN: ``d_optimizer`` and
    ``g_optimizer``; one not built yet in the resumed process is built for the
    same variables before it is restored), the metric accumulators, the global Keras seed
    generator, NumPy's and Python's global random states, the epoch and the
    position inside it, and the state of every other callback of the same
    `fit` that has `get_state()`/`set_state()` (all kerasplus callbacks; Keras's
    `EarlyStopping` and `ReduceLROnPlateau` through adapters), and the steps
    per epoch and batch size. The last `keep` checkpoints are kept. A
    checkpoint is never written while a weight is NaN or inf.

    With ``async_save=True`` (the default) a save only copies the training
    state to host memory (NumPy arrays) at the step boundary; the file
    (checksums, fsync, rename) is written by a background thread while
    training goes on. One write is in flight at a time: a save waits for the
    previous write first. A write that failed raises its own error at the next
    save, or at the end of `fit`; `fit` ends (and `Preempted` is raised) only
    once the last write is on disk. If `fit` dies of an exception, the write
    in flight still completes (the process does not exit before it); call
    `wait()` before reading `backup_dir` yourself. The checkpoint written is
    the same, byte for byte, as with ``async_save=False``.

    The epoch's checkpoint is written in this callback's `on_epoch_end` and,
    when callbacks follow it in the list, written again (same file,
    atomically) once every callback has run its `on_epoch_end`: it holds
    their states after the epoch. If a callback after this one raises in
    `on_epoch_end`, the rerun still starts at the next epoch (as with Keras's
    `BackupAndRestore`), with that callback's state from before the epoch
    end. Mid-epoch checkpoints are written after every callback's
    `on_train_batch_end`.

    Restoring trusts nothing: the zip directory, the header (its SHA-256),
    every array's npy header (dtype, shape and size, against the header and
    the model) are checked before any array is read, then each array's
    SHA-256. A checkpoint that is truncated, bit-flipped, hand-made, of
    another model, holds NaN/inf weights or an impossible position (an epoch
    beyond this fit's `epochs`, a step beyond its epoch) is skipped with a
    warning naming the file and the reason, and the one before it is used; if
    none is usable, `fit` raises ValueError with each file's reason.
    Checkpoints of earlier kerasplus versions (format 1) are refused so.

    Each callback's state is stored under a stable key: its ``state_key``
    attribute if it has one (a string), else its class plus, for callbacks
    with a ``monitor``, the monitored quantity (and mode); equal keys are
    numbered in list order. Adding, removing or reordering callbacks between
    runs restores each state to its owner; a saved state that no callback of
    this fit owns is left, with a warning.

    If the batch size or the steps per epoch differ from those of a mid-epoch
    checkpoint's run, the position inside the epoch means other samples: the
    resumed `fit` starts at the next epoch boundary instead (the rest of that
    epoch is not trained), with a warning. An epoch-end checkpoint resumes as
    usual.

    Termination signals (`save_on_signals`, SIGTERM by default: spot VMs,
    Kubernetes) do not end the process mid-step: the running step finishes,
    a checkpoint is written at the next batch boundary (at the epoch end, after
    validation, when the signal comes in the last step or the input cannot be
    put back mid-epoch), and `fit` raises `kerasplus.callbacks.Preempted`, a
    `SystemExit` with status ``128 + signal`` (143 for SIGTERM) holding the
    checkpoint's path. Handlers are installed in the main thread only, for the
    duration of `fit`, and the previous ones are put back when it ends. If no
    batch boundary comes within `_preemption.GRACE_S` (60 s) of the signal, or
    a second signal arrives, the previous handler acts on it (for SIGTERM by
    default: the process ends).

    Under `MultiWorkerMirroredStrategy` with several workers, a signal to one
    worker, several or all stops every worker after the same step: the
    signalled worker, at its next batch boundary, asks all workers to stop
    after the next step and waits until each has acknowledged (through the
    key-value store of TensorFlow's coordination service: the protocol of
    `tf.distribute.experimental.PreemptionCheckpointHandler`); every step
    all-reduces the gradients, so no worker can pass that step unaware. Each
    worker then saves there and raises `Preempted` with that signal (status
    143 on every worker, signalled or not): one step later than a single
    process, and no step is lost. A batch boundary costs a flag check; no
    collective runs there. If a worker has not acknowledged within 20 s (it
    is gone), the signalled one saves and stops at once; at the restart the
    workers resume from the newest checkpoint all of them have. A signal in
    the last step of `fit` stops nothing (`fit` is over; the signal then goes
    to the previous handler). TensorFlow installs a C-level SIGTERM handler
    with the strategy (it records the signal, and the process trains on);
    it is replaced during `fit` and put back after, as are other handlers
    installed outside Python.

    On the JAX backend with several processes (`jax.distributed`),
    `BackupAndRestore` raises RuntimeError at the start of `fit`: it does not
    make JAX processes agree on the checkpoint to resume or the step to stop
    at. One JAX process over all local devices (`keras.distribution`) is
    supported, and so is the TensorFlow backend under
    `MultiWorkerMirroredStrategy`.

    At `on_train_begin` the newest checkpoint is restored. With an integer
    `save_freq` a checkpoint can sit in the middle of an epoch: the resumed
    `fit` starts that epoch at the saved step. To get there it finds `fit`'s
    epoch iterator in the calling frame (Keras gives callbacks no handle on it)
    and, for this `fit` only, makes that iterator skip the batches already
    consumed and the steps already done (see `_data_position`). For numpy
    arrays and `tf.data` datasets (whose shuffles are seeded), and on any
    backend a `torch.utils.data.DataLoader` (shuffled through torch's global
    generator or its own) without worker processes, a run seeded with
    `keras.utils.set_random_seed` (and on TensorFlow
    `tf.config.experimental.enable_op_determinism()`) then ends with the same
    weights, bit for bit, as one never interrupted, on TensorFlow, JAX and
    PyTorch: the random states each epoch's shuffle draws from (NumPy's,
    torch's, the loader's generators) are saved and replayed. Other inputs
    (Python generators, `PyDataset`, a `DataLoader` with workers, an
    `IterableDataset` or a custom sampler) are checkpointed at epoch ends
    only, with a warning.

    Under `MultiWorkerMirroredStrategy` with several workers, each worker
    writes its own checkpoints into ``backup_dir/<task_type>-<task_id>`` (so
    `backup_dir` may be on a disk all workers share, or on each machine's
    own), with its own random states. At restore the workers agree, by a
    collective, on the newest checkpoint (epoch and step) that every one of
    them can load (newer ones on some workers are removed), so a worker killed
    while writing does not resume at a different step from the others (the
    next collective would abort or wait). If a worker cannot read or restore
    its checkpoints, every worker raises. Checkpoints of a single-process run
    in `backup_dir` are not used by a multi-worker run, nor the reverse
    (with a warning).

    Callback states are restored right after each callback's own
    `on_train_begin` (which resets it): those before this one in the list
    during this `on_train_begin`, those after it at the first
    `on_epoch_begin`. The callback list is found in the calling frame too.

    Args:
        backup_dir: a directory for this run's checkpoints only; created if
            missing; must be writable (checked here).
        save_freq: ``"epoch"`` or a number of batches (int >= 1).
        double_checkpoint: accepted for compatibility with Keras; at least two
            checkpoints are kept when True.
        delete_checkpoint: delete the checkpoints when `fit` ends (not when
            a `kerasplus.callbacks.Timer` stopped it before its last epoch:
            see `Timer`).
        keep: how many checkpoints to keep (>= 1).
        save_on_signals: signals (numbers or `signal.Signals`) that save and
            stop `fit` (see above); ``()`` catches none. SIGKILL and SIGSTOP
            cannot be caught and are refused.
        async_save: write checkpoints in a background thread (see above);
            False writes each one in the training thread before training
            goes on.

    Example:

    >>> import tempfile, numpy as np, keras, kerasplus
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> backup = kerasplus.callbacks.BackupAndRestore(tempfile.mkdtemp(), save_freq=2)
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2,
    ...                     epochs=2, verbose=0, callbacks=[backup])
    >>> len(history.history["loss"])
    2
    """

    def __init__(
        self,
        backup_dir: str,
        save_freq: str | int = "epoch",
        double_checkpoint: bool = False,
        delete_checkpoint: bool = True,
        keep: int = 2,
        save_on_signals: Iterable[int | signal.Signals] = (signal.SIGTERM,),
        async_save: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError(f"`backup_dir` must be a directory path; received backup_dir={backup_dir!r}.")
        if save_freq != "epoch":
            if isinstance(save_freq, str):
                raise ValueError(f"`save_freq` must be 'epoch' or an integer >= 1; received save_freq={save_freq!r}.")
            v.check_int("save_freq", save_freq, minimum=1)
        self.save_freq = save_freq
        self.double_checkpoint = v.check_bool("double_checkpoint", double_checkpoint)
        self.delete_checkpoint = v.check_bool("delete_checkpoint", delete_checkpoint)
        self.keep = v.check_int("keep", keep, minimum=1)
        self.save_on_signals = _check_signals(save_on_signals)
        self.async_save = v.check_bool("async_save", async_save)
        self.backup_dir = str(backup_dir)
        self._writer = _background_write.BackgroundWriter(self.backup_dir, self.async_save)
        self._store = CheckpointStore(self.backup_dir, max(self.keep, 2 if double_checkpoint else 1))
        self._active = self._store  # the store written to: a worker's own folder under multi-worker training
        self.restored_from = None

    def get_config(self) -> dict:
        return {
            "backup_dir": self.backup_dir,
            "save_freq": self.save_freq,
            "double_checkpoint": self.double_checkpoint,
            "delete_checkpoint": self.delete_checkpoint,
            "keep": self.keep,
            "save_on_signals": list(self.save_on_signals),
            "async_save": self.async_save,
        }

    def wait(self) -> None:
        """Blocks until the checkpoint being written in the background is on disk; raises if its write failed."""
        self._writer.wait()

    # ---------------------------------------------------------------- fit hooks

    def on_train_begin(self, logs: dict | None = None) -> None:
        _worker_agreement.refuse_jax_multi_process()
        _accumulation.refuse_unsupported(self.model, "BackupAndRestore")
        _background_write.drain(self.backup_dir)  # a write an earlier fit (perhaps crashed) left in flight
        epoch_iterator, callback_list = internal_keras.find_running_fit()
        self._cursor = DataCursor(epoch_iterator) if epoch_iterator is not None else None
        if callback_list is None:
            warnings.warn(
                "BackupAndRestore could not find the callback list of this fit; other callbacks' state is not saved.",
                UserWarning,
                stacklevel=2,
            )
            callbacks = []
        else:
            callbacks = list(callback_list.callbacks)
        self._timers = [c for c in callbacks if isinstance(c, Timer)]
        self._timer_stop = False
        self._cut_epoch = False
        self._last_epoch_done = None
        self._stateful = _callback_state.unique_keys(
            c for c in callbacks if c is not self and _callback_state.has_state(c)
        )
        position = callbacks.index(self) if self in callbacks else len(callbacks)
        later = callbacks[position + 1 :]
        self._after_me = {id(c) for c in later}
        defaults = (keras.callbacks.History, keras.callbacks.ProgbarLogger)
        self._rewrite_at_epoch_end = any(not isinstance(c, defaults) for c in later)
        self._exact = self._cursor is not None and self._cursor.exact()
        self._mid_epoch = self.save_freq != "epoch" and self._exact
        if self.save_freq != "epoch" and not self._mid_epoch:
            what = self._cursor.inexact_reason() if self._cursor is not None else "fit reads an input it hides"
            warnings.warn(
                f"BackupAndRestore: {what}; a new process cannot be put back "
                "in the middle of its epoch, so checkpoints are written at epoch ends only.",
                UserWarning,
                stacklevel=2,
            )
        self._epoch = 0
        self._begin = 0
        self._since_save = 0
        self._save_at_epoch_end = False
        self._due = None
        self._epoch_checkpoint = None
        self._pending_states = []
        self._pending_metrics = None
        self._waiting_for_epoch_end = False
        self.restored_from = None
        self._callback_list, self._tail = callback_list, None
        if callback_list is not None:
            self._tail = _AfterEveryCallback(self._after_batch, self._after_epoch)
            internal_keras.run_after_every_callback(callback_list, self._tail)
        self._verifier = _training_state.Verifier(self.model, self.params.get("epochs"))
        strategy = getattr(self.model, "distribute_strategy", None)
        task = _worker_agreement.multi_worker_task(strategy)
        if task is not None and self._timers:
            raise ValueError(
                "BackupAndRestore: a Timer in the callbacks under MultiWorkerMirroredStrategy: each worker's "
                "clock would stop it at a different step, and the workers would wait for each other forever. "
                "Remove the Timer, or end the run from outside with SIGTERM (save_on_signals), on which the "
                "workers agree."
            )
        self._install_signal_catcher(strategy, task)
        if task is not None:
            try:
                self._restore_agreed(strategy, task)
            except BaseException:
                self._stop_catching()  # no on_train_end follows
                raise
            return
        self._active = self._store
        self._store.ensure()
        folders = self._store.worker_folders()
        if folders:
            warnings.warn(
                f"BackupAndRestore: {self.backup_dir!r} holds checkpoints of a multi-worker run "
                f"({', '.join(folders)}); this single-process run does not "
                "resume from them.",
                UserWarning,
                stacklevel=2,
            )
        self._store.remove_temporary_files()
        if self._store.checkpoint_names():
            self._verifier.require_built()
        checkpoint = self._store.latest(self._verifier)
        if checkpoint is not None:
            self._restore(checkpoint)

    def _install_signal_catcher(self, strategy, task):
        self._catcher = self._agreement = self._stop_signal = None
        self._boundaries = 0
        if not self.save_on_signals:
            return
        if task is not None:
            if not internal_tensorflow.coordination_service_enabled():
                logger.info(
                    "BackupAndRestore: save_on_signals is not honoured: this MultiWorkerMirroredStrategy "
                    "runs without TensorFlow's coordination service, through which the workers agree on "
                    "the step to save at. After a kill the run resumes from the last checkpoint."
                )
                return
            # Made on every worker, even one whose signals cannot be caught: it must acknowledge the others' stop.
            self._agreement = StopAgreement(
                _ClusterStore, f"{task[0]}-{task[1]}", _worker_agreement.task_names(strategy)
            )
        catcher = SignalCatcher(self.save_on_signals)
        if not catcher.install():
            warnings.warn(
                "BackupAndRestore: fit runs outside the main thread, where Python cannot install "
                "signal handlers; save_on_signals is not honoured.",
                UserWarning,
                stacklevel=3,
            )
            return
        self._catcher = catcher

    def _restore_agreed(self, strategy, task):
        """Multi-worker restore: every worker resumes from the same (epoch, step), or every worker raises.

        Two collectives (`_worker_agreement.together`), which every worker
        reaches whatever happens to it: one to agree on the newest checkpoint
        all workers can load, one to confirm that every worker restored it.
        Each checkpoint file is read once: the chosen one's content is kept
        from the first step.
        """
        candidates, everywhere = _worker_agreement.together(
            strategy,
            lambda: self._worker_candidates(task),
            "BackupAndRestore: another worker could not read its checkpoints (its own "
            "error says why); no worker resumes.",
            keys_of=lambda found: [_worker_agreement.checkpoint_key(c.meta) for c in found],
        )
        _worker_agreement.together(
            strategy,
            lambda: self._restore_chosen(candidates, everywhere),
            "BackupAndRestore: another worker failed to restore the agreed checkpoint (its own "
            "error says why); no worker resumes.",
        )

    def _worker_candidates(self, task):
        """This worker's readable checkpoints, newest first, each read once."""
        # At least two kept: workers write at their own batch begins, so one may be a save ahead.
        self._active = self._store.worker(*task, keep=max(self._store.keep, 2))
        self._active.remove_temporary_files()
        if self._store.checkpoint_names():
            warnings.warn(
                f"BackupAndRestore: {self.backup_dir!r} holds checkpoints of a single-process "
                "run; this multi-worker run does not resume from them (and leaves them there).",
                UserWarning,
                stacklevel=6,
            )
        if self._active.checkpoint_names():
            self._verifier.require_built()
        return self._active.readable(self._verifier)

    def _restore_chosen(self, candidates, everywhere):
        chosen = next((c for c in candidates if _worker_agreement.checkpoint_key(c.meta) in everywhere), None)
        if chosen is None:
            if candidates:
                warnings.warn(
                    f"BackupAndRestore: no checkpoint in {self._active.directory!r} is on every "
                    "worker; all workers start from scratch.",
                    UserWarning,
                    stacklevel=6,
                )
            return
        if chosen.path != candidates[0].path:
            warnings.warn(
                f"BackupAndRestore: resuming from {chosen.path} (epoch {chosen.meta['epoch']}, step "
                f"{chosen.meta['step']}), the newest checkpoint every worker has; this worker's "
                "newer ones are not on all of them and are removed.",
                UserWarning,
                stacklevel=6,
            )
            self._active.discard_newer_than(chosen.path)
        candidates.clear()  # only the chosen one's content is still needed
        self._restore(chosen)

    def _write_due(self):
        if self._due is not None:
            due, self._due = self._due, None
            self._save(*due)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch
        for key, callback, state in self._pending_states:
            self._set_callback_state(key, callback, state)
        self._pending_states = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._begin = batch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._pending_metrics is not None:
            self._add_saved_metrics()
        done = batch - self._begin + 1
        if self._cursor is not None:
            self._cursor.advance(done)
        if self._mid_epoch:
            self._since_save += done
            if self._since_save >= self.save_freq:
                self._since_save = 0
                steps = self.params.get("steps")
                if steps is not None and batch + 1 >= steps:
                    self._save_at_epoch_end = True  # after validation, as an epoch-end checkpoint
                else:
                    self._due = (self._epoch, batch + 1)
        if self._tail is None:
            self._after_batch(batch)

    def _after_batch(self, batch):
        """After every callback's `on_train_batch_end`: the save due, a stop by a `Timer`, and one asked by a signal."""
        self._write_due()
        if not self._timer_stop and any(timer.expired for timer in self._timers):
            self._timer_stopped(batch)
        signum = self._signal_to_stop_with()
        if signum is None or self._waiting_for_epoch_end:
            return
        self._stop_signal = signum
        steps = self.params.get("steps")
        if self._exact and (steps is None or batch + 1 < steps):
            self._stop(self._save(self._epoch, batch + 1))
        self._waiting_for_epoch_end = True
        if not self._exact:
            warnings.warn(
                "BackupAndRestore: stopping at the end of this epoch (this fit's input cannot be "
                "put back in the middle of an epoch).",
                UserWarning,
                stacklevel=3,
            )

    def _signal_to_stop_with(self):
        """The signal to stop at this batch boundary with (the same on every worker), or None."""
        received = self._catcher.received if self._catcher is not None else None
        if self._agreement is None:
            return received
        self._boundaries += 1
        return self._agreement.at_boundary(self._boundaries, received)

    def _stopping(self):
        """Whether `fit` stops at this epoch end: a signal here, or (multi-worker) a stop every worker agreed on."""
        if self._agreement is not None:
            return self._stop_signal is not None
        return self._catcher is not None and self._catcher.received is not None

    def _timer_stopped(self, batch):
        """A `Timer` stopped fit after `batch`: save there, so a rerun resumes at the next batch."""
        self._timer_stop = True
        steps = self.params.get("steps")
        if steps is not None and batch + 1 >= steps:
            return  # the epoch is complete: its epoch-end checkpoint is written as usual
        self._cut_epoch = True
        if self._exact:
            self._save(self._epoch, batch + 1)
            return
        what = self._cursor.inexact_reason() if self._cursor is not None else "fit reads an input it hides"
        warnings.warn(
            f"BackupAndRestore: a Timer stopped fit in the middle of epoch {self._epoch}, and {what}: "
            "the checkpoint of the last epoch end is kept, so a rerun repeats this epoch from its start.",
            UserWarning,
            stacklevel=3,
        )

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        stopping = self._stopping()
        if self._cut_epoch:
            pass  # a Timer cut this epoch short: its checkpoint was written where it stopped
        elif self.save_freq == "epoch" or self._save_at_epoch_end or not self._mid_epoch or stopping:
            self._epoch_checkpoint = self._save(epoch + 1, 0)
        if not self._cut_epoch:
            self._last_epoch_done = epoch
        self._save_at_epoch_end = False
        if self._tail is None:
            self._after_epoch(epoch)

    def _after_epoch(self, epoch):
        """After every callback's `on_epoch_end`: the epoch's checkpoint again, with their states after it."""
        path, self._epoch_checkpoint = self._epoch_checkpoint, None
        if path is not None and self._tail is not None and self._rewrite_at_epoch_end:
            path = self._save(epoch + 1, 0, replace=path) or path
        if any(timer.expired for timer in self._timers):
            self._timer_stop = True  # a Timer with interval="epoch" (or expired in the epoch's last batch)
        if self._stopping():
            self._stop(path)

    def _stop(self, path):
        signum = self._stop_signal if self._stop_signal is not None else self._catcher.received
        self._end_fit()
        raise Preempted(signum, path)

    def _end_fit(self):
        """What must not outlive this fit: the signal handlers, the hook after every callback, the initial epoch."""
        self._stop_catching()
        if self._tail is not None:
            internal_keras.stop_running_after_every_callback(self._callback_list, self._tail)
            self._tail = None
        internal_keras.set_initial_epoch(self.model, None)  # Keras leaves it set; a later fit must not inherit it
        self._writer.wait()  # the last checkpoint is on disk (or its write's error raised) before fit ends

    def _stop_catching(self):
        if self._catcher is not None:
            self._catcher.uninstall()
        if self._agreement is not None:
            self._agreement.close()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._end_fit()
        epochs = self.params.get("epochs")
        paused = self._timer_stop and not (
            self._last_epoch_done is not None and epochs is not None and self._last_epoch_done + 1 >= epochs
        )
        if self.delete_checkpoint and not paused:  # a Timer's stop is a pause: the rerun resumes from them
            self._active.delete_all()  # and backup_dir itself, once the last worker's folder is gone
        self._due = None
        if self._catcher is not None and self._catcher.received is not None:
            signal.raise_signal(self._catcher.received)  # came after the last epoch end: the previous handler's

    def _add_saved_metrics(self):
        """Adds the accumulators saved mid-epoch to those of the first resumed batch.

        Keras builds compile metrics in the first train step, so they cannot be
        assigned before it; their states are sums (total/count, confusion
        counts), so adding them afterwards gives what the epoch would have had.
        """
        saved, self._pending_metrics = self._pending_metrics, None
        variables = self.model.metrics_variables
        if len(variables) != len(saved) or any(tuple(x.shape) != s.shape for x, s in zip(variables, saved)):
            warnings.warn(
                f"BackupAndRestore: the checkpoint holds {len(saved)} metric "
                f"variables, this model {len(variables)} (or their shapes differ); the resumed epoch's "
                "metrics count only the batches after the resume.",
                UserWarning,
                stacklevel=3,
            )
            return
        for variable, value in zip(variables, saved):
            variable.assign(variable + value.astype(_training_state.numpy_dtype(variable)))

    # ---------------------------------------------------------------- save and restore

    def _batch_size(self):
        return self._cursor.batch_size() if self._cursor is not None else None

    def _save(self, epoch, step, replace=None):
        """Writes a checkpoint (or rewrites `replace`); returns its path, or None when the weights are not finite.

        The state is read here (on TensorFlow with `async_save`, as immutable
        tensor reads that the background thread copies to host memory;
        otherwise copied to host memory here); the file is written by
        `self._writer` (in the background with `async_save`), after the
        previous write is done (a failed one raises here).
        """
        self._writer.wait()
        position = self._cursor.position() if self._cursor is not None else None
        try:
            arrays, meta = _training_state.assemble(
                self.model,
                epoch,
                step,
                position,
                self._stateful,
                steps=self.params.get("steps"),
                batch_size=self._batch_size(),
                defer_host_copy=self.async_save,
            )
        except _training_state.NonFiniteWeights as error:
            warnings.warn(
                f"BackupAndRestore: not saving at epoch {epoch}, step {step}: {error}.",
                UserWarning,
                stacklevel=2,
            )
            return None
        arrays, store = _background_write.snapshot(arrays), self._active
        path = replace if replace is not None else store.next_path()
        self._writer.submit(lambda: store.write(arrays, meta, replace=path), path)
        return path

    def _restore(self, checkpoint):
        """Puts the training state of `checkpoint` (already read and verified) back into this fit."""
        path, meta = checkpoint.path, checkpoint.meta
        groups = _training_state.variable_groups(self.model, meta.get("optimizer_targets"))
        _training_state.assign(groups, checkpoint)
        epoch, step = int(meta["epoch"]), int(meta["step"])
        position = meta.get("position")
        if step > 0 and self._cursor is None:
            warnings.warn(
                f"BackupAndRestore: {path} was saved at step {step} of epoch {epoch}, "
                "but this fit's input position cannot be restored; the epoch starts over.",
                UserWarning,
                stacklevel=3,
            )
            step = 0
        steps, batch_size = self.params.get("steps"), self._batch_size()
        saved_steps, saved_batch_size = meta.get("steps"), meta.get("batch_size")
        changed = (saved_steps is not None and steps is not None and saved_steps != steps) or (
            saved_batch_size is not None and batch_size is not None and saved_batch_size != batch_size
        )
        if step > 0 and changed:
            warnings.warn(
                f"BackupAndRestore: {path} was saved at step {step} of epoch {epoch} by a run of "
                f"{saved_steps} steps per epoch, batch size {saved_batch_size}; this fit has {steps} "
                f"steps of batch size {batch_size}, so that position means other samples. Resuming at "
                f"the start of epoch {epoch + 1}: the rest of epoch {epoch} is not trained.",
                UserWarning,
                stacklevel=3,
            )
            epoch, step = epoch + 1, 0
            if position is not None:  # what an epoch-end checkpoint holds: the next epoch's iterator, unread
                position = {"iterators": position["iterators"] + 1, "consumed": 0}
        if step > 0:
            self._pending_metrics = _training_state.saved_metrics(checkpoint)
        if self._cursor is not None and position is not None:
            rng, history = None, None
            if position is meta.get("position"):
                rng, history = _training_state.decode_position_rng(checkpoint), position.get("history")
            self._cursor.resume(position["iterators"], position["consumed"], step, rng, history)
        internal_keras.set_initial_epoch(self.model, epoch)
        if self._mid_epoch and step > 0:
            self._since_save = step % self.save_freq
        _training_state.restore_rng(checkpoint)
        self._restore_callbacks(checkpoint)
        self.restored_from = path

    def _restore_callbacks(self, checkpoint):
        saved = _training_state.callback_states(checkpoint)
        orphans = [key for key in saved if key not in self._stateful]
        if orphans:
            warnings.warn(
                f"BackupAndRestore: {checkpoint.path} holds the state of {orphans}, which no callback "
                f"of this fit owns (this fit's state keys: {list(self._stateful)}); not restored. "
                "Set a callback's `state_key` attribute to name its state.",
                UserWarning,
                stacklevel=4,
            )
        for key, callback in self._stateful.items():
            if key not in saved:
                continue  # new in this run: starts from its own initial state
            if id(callback) in self._after_me:
                self._pending_states.append((key, callback, saved[key]))  # after its own on_train_begin
            else:
                self._set_callback_state(key, callback, saved[key])

    def _set_callback_state(self, key, callback, state):
        try:
            _callback_state.set_state(callback, state)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
            warnings.warn(
                f"BackupAndRestore: the saved state of {key} does not fit it "
                f"({type(error).__name__}: {error}); it starts from its initial state.",
                UserWarning,
                stacklevel=3,
            )


def _check_signals(signals) -> tuple:
    if signals is None:
        return ()
    if isinstance(signals, (int, str)) or not hasattr(signals, "__iter__"):
        raise TypeError(
            "`save_on_signals` must be a tuple of signals (e.g. (signal.SIGTERM,)); "
            f"received save_on_signals={signals!r}."
        )
    checked = []
    for item in signals:
        if isinstance(item, bool) or not isinstance(item, int):
            raise TypeError(f"`save_on_signals` must hold signal numbers; received save_on_signals={signals!r}.")
        try:
            number = signal.Signals(item)
        except ValueError:
            raise ValueError(
                f"`save_on_signals` holds {item!r}, not a signal of this platform; "
                f"received save_on_signals={signals!r}."
            ) from None
        if number in _UNCATCHABLE:
            raise ValueError(f"`save_on_signals` holds {number.name}, which cannot be caught; received {signals!r}.")
        if number not in checked:
            checked.append(number)
    return tuple(int(number) for number in checked)


class _ClusterStore:
    """The key-value store of TensorFlow's coordination service, as `StopAgreement` uses it."""

    insert = staticmethod(internal_tensorflow.coordination_insert)
    get = staticmethod(internal_tensorflow.coordination_get)
