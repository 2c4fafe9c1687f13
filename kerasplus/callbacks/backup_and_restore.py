"""`BackupAndRestore`: resume a killed `fit` exactly where it was, callback state included."""

from __future__ import annotations

import warnings

import keras

from kerasplus import _validation as v
from kerasplus._internals import keras as internal_keras
from kerasplus.callbacks import _callback_state, _training_state, _worker_agreement
from kerasplus.callbacks._checkpoint_store import CheckpointStore
from kerasplus.callbacks._data_position import DataCursor


class BackupAndRestore(keras.callbacks.Callback):
    """Drop-in for `keras.callbacks.BackupAndRestore` that resumes bit-exactly.

    Each checkpoint holds, in one ``.npz`` file written atomically (temporary
    file, fsync, `os.replace`): every model variable (weights and the
    `SeedGenerator` states of random layers), the optimizer's variables
    (iteration count, slots), the metric accumulators, the global Keras seed
    generator, NumPy's and Python's global random states, the epoch and the
    position inside it, and the state of every other callback of the same
    `fit` that has `get_state()`/`set_state()` (all kerasplus callbacks; Keras's
    `EarlyStopping` and `ReduceLROnPlateau` through adapters). The last `keep`
    checkpoints are kept; if the newest does not load, the one before is used,
    with a warning. A checkpoint is never written while a weight is NaN or inf.

    At `on_train_begin` the newest checkpoint is restored. With an integer
    `save_freq` a checkpoint can sit in the middle of an epoch: the resumed
    `fit` starts that epoch at the saved step. To get there it finds `fit`'s
    epoch iterator in the calling frame (Keras gives callbacks no handle on it)
    and, for this `fit` only, makes that iterator skip the batches already
    consumed and the steps already done (see `_data_position`). For numpy
    arrays and `tf.data` datasets (whose shuffles are seeded) a run seeded with
    `keras.utils.set_random_seed` and
    `tf.config.experimental.enable_op_determinism()` then ends with the same
    weights, bit for bit, as one never interrupted. Other inputs (Python
    generators, `PyDataset`) are checkpointed at epoch ends only, with a
    warning.

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
        delete_checkpoint: delete the checkpoints when `fit` ends.
        keep: how many checkpoints to keep (>= 1).

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
    ):
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
        self.backup_dir = str(backup_dir)
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
        }

    # ---------------------------------------------------------------- fit hooks

    def on_train_begin(self, logs=None):
        epoch_iterator, callback_list = internal_keras.find_running_fit()
        self._cursor = DataCursor(epoch_iterator) if epoch_iterator is not None else None
        if callback_list is None:
            warnings.warn(
                "BackupAndRestore could not find the callback list of this fit; "
                "other callbacks' state is not saved.",
                UserWarning,
                stacklevel=2,
            )
            callbacks = []
        else:
            callbacks = list(callback_list.callbacks)
        self._stateful = [c for c in callbacks if c is not self and _callback_state.has_state(c)]
        position = callbacks.index(self) if self in callbacks else len(callbacks)
        self._after_me = {id(c) for c in callbacks[position + 1 :]}
        self._mid_epoch = self.save_freq != "epoch" and self._cursor is not None and self._cursor.exact()
        if self.save_freq != "epoch" and not self._mid_epoch:
            what = self._cursor.adapter_name if self._cursor is not None else "an input this fit hides"
            warnings.warn(
                f"BackupAndRestore: fit reads {what}; a new process cannot be put back "
                "in the middle of its epoch, so checkpoints are written at epoch ends only.",
                UserWarning,
                stacklevel=2,
            )
        self._epoch = 0
        self._begin = 0
        self._since_save = 0
        self._save_at_epoch_end = False
        self._due = None
        self._pending_states = []
        self._pending_metrics = None
        self.restored_from = None
        strategy = getattr(self.model, "distribute_strategy", None)
        task = _worker_agreement.multi_worker_task(strategy)
        if task is not None:
            self._restore_agreed(strategy, task)
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
        checkpoint = self._store.latest()
        if checkpoint is not None:
            self._restore(checkpoint)

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
        return self._active.readable()

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

    # A save falls due at a batch or epoch end but is written at the next
    # batch or epoch begin, so every callback after this one in the list has
    # seen that end too (their state is part of the checkpoint).

    def _write_due(self):
        if self._due is not None:
            due, self._due = self._due, None
            self._save(*due)

    def on_epoch_begin(self, epoch, logs=None):
        self._write_due()
        self._epoch = epoch
        for callback, state in self._pending_states:
            _callback_state.set_state(callback, state)
        self._pending_states = []

    def on_train_batch_begin(self, batch, logs=None):
        self._write_due()
        self._begin = batch

    def on_train_batch_end(self, batch, logs=None):
        if self._pending_metrics is not None:
            self._add_saved_metrics()
        done = batch - self._begin + 1
        if self._cursor is not None:
            self._cursor.advance(done)
        if not self._mid_epoch:
            return
        self._since_save += done
        if self._since_save < self.save_freq:
            return
        self._since_save = 0
        steps = self.params.get("steps")
        if steps is not None and batch + 1 >= steps:
            self._save_at_epoch_end = True  # after validation, as an epoch-end checkpoint
        else:
            self._due = (self._epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch" or self._save_at_epoch_end or not self._mid_epoch:
            self._due = (epoch + 1, 0)
        self._save_at_epoch_end = False

    def on_train_end(self, logs=None):
        internal_keras.set_initial_epoch(self.model, None)  # Keras leaves it set; a later fit must not inherit it
        if self.delete_checkpoint:
            self._active.delete_all()  # and backup_dir itself, once the last worker's folder is gone
        else:
            self._write_due()  # the end of the last epoch, kept for a later fit
        self._due = None

    def _add_saved_metrics(self):
        """Adds the accumulators saved mid-epoch to those of the first resumed batch.

        Keras builds compile metrics in the first train step, so they cannot be
        assigned before it; their states are sums (total/count, confusion
        counts), so adding them afterwards gives what the epoch would have had.
        """
        saved, self._pending_metrics = self._pending_metrics, None
        variables = self.model.metrics_variables
        if len(variables) != len(saved):
            warnings.warn(
                f"BackupAndRestore: the checkpoint holds {len(saved)} metric "
                f"variables, this model {len(variables)}; the resumed epoch's "
                "metrics count only the batches after the resume.",
                UserWarning,
                stacklevel=3,
            )
            return
        for variable, value in zip(variables, saved):
            variable.assign(variable + value)

    # ---------------------------------------------------------------- save and restore

    def _save(self, epoch, step):
        position = self._cursor.position() if self._cursor is not None else None
        try:
            arrays, meta = _training_state.assemble(self.model, epoch, step, position, self._stateful)
        except _training_state.NonFiniteWeights as error:
            warnings.warn(
                f"BackupAndRestore: not saving at epoch {epoch}, step {step}: {error}.",
                UserWarning,
                stacklevel=2,
            )
            return
        self._active.write(arrays, meta)

    def _restore(self, checkpoint):
        """Puts the training state of `checkpoint` (already read) back into this fit."""
        path, meta = checkpoint.path, checkpoint.meta
        groups = _training_state.check(self.model, checkpoint)
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
        if step > 0:
            self._pending_metrics = _training_state.saved_metrics(checkpoint)
        if self._cursor is not None and position is not None:
            self._cursor.resume(position["iterators"], position["consumed"], step)
        internal_keras.set_initial_epoch(self.model, epoch)
        if self._mid_epoch and step > 0:
            self._since_save = step % self.save_freq
        _training_state.restore_rng(checkpoint)
        self._restore_callbacks(checkpoint)
        self.restored_from = path

    def _restore_callbacks(self, checkpoint):
        states = _training_state.callback_states(checkpoint, self._stateful)
        if states is None:
            warnings.warn(
                f"BackupAndRestore: {checkpoint.path} holds the state of callbacks "
                f"{_training_state.saved_callback_classes(checkpoint)}, this fit has "
                f"{[type(c).__name__ for c in self._stateful]}; their state is not restored.",
                UserWarning,
                stacklevel=4,
            )
            return
        for callback, state in zip(self._stateful, states):
            if id(callback) in self._after_me:
                self._pending_states.append((callback, state))  # after its own on_train_begin
            else:
                _callback_state.set_state(callback, state)
