"""`BackupAndRestore`: resume a killed `fit` exactly where it was, callback state included."""

from __future__ import annotations

import os
import random
import re
import warnings

import keras
import numpy as np

from kerasplus import _validation as v
from kerasplus.callbacks import _callback_state
from kerasplus.callbacks._checkpoint_store import CheckpointStore
from kerasplus.callbacks._data_position import DataCursor, find_fit

FORMAT = 1


def _global_seed_generator():
    from keras.src.backend.common import global_state

    return global_state.get_global_attribute("global_seed_generator")


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
        self._active = self._store  # a worker's own folder under multi-worker training
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
        epoch_iterator, callback_list = find_fit()
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
        task = _multi_worker_task(strategy)
        if task is not None:
            self._restore_agreed(strategy, task)
            return
        self._active = self._store
        self._store.ensure()
        folders = _worker_folders(self.backup_dir)
        if folders:
            warnings.warn(
                f"BackupAndRestore: {self.backup_dir!r} holds checkpoints of a multi-worker run "
                f"({', '.join(folders)}); this single-process run does not "
                "resume from them.",
                UserWarning,
                stacklevel=2,
            )
        self._store.remove_temporary_files()
        found = self._store.latest()
        if found is not None:
            self._restore(*found)

    def _restore_agreed(self, strategy, task):
        """Multi-worker restore: every worker resumes from the same (epoch, step), or every worker raises.

        Two collectives, which every worker reaches whatever happens to it:
        one to agree on the newest checkpoint all workers can load, one to
        confirm that every worker restored it. A worker whose folder, files or
        restore fail raises its own error; the others raise saying so, instead
        of training on and waiting for it at the next collective.
        """
        keys, candidates, error = [], [], None
        try:
            # At least two kept: workers write at their own batch begins, so one may be a save ahead.
            self._active = CheckpointStore(
                os.path.join(self.backup_dir, f"{task[0]}-{task[1]}"), max(self._store.keep, 2)
            )
            self._active.remove_temporary_files()
            if self._store.checkpoint_names():
                warnings.warn(
                    f"BackupAndRestore: {self.backup_dir!r} holds checkpoints of a single-process "
                    "run; this multi-worker run does not resume from them (and leaves them there).",
                    UserWarning,
                    stacklevel=3,
                )
            candidates = self._active.loadable()
            keys = [_key(meta) for meta, _ in candidates]
        except Exception as caught:  # noqa: BLE001 - re-raised after the collective
            error = caught
        everywhere, failed = _agree(strategy, keys, error is not None)
        if error is not None:
            raise error
        if failed:
            raise ValueError(
                "BackupAndRestore: another worker could not read its checkpoints (its own "
                "error says why); no worker resumes."
            )
        chosen = next(((meta, path) for key, (meta, path) in zip(keys, candidates) if key in everywhere), None)
        try:
            if chosen is not None:
                meta, path = chosen
                if path != candidates[0][1]:
                    warnings.warn(
                        f"BackupAndRestore: resuming from {path} (epoch {meta['epoch']}, step "
                        f"{meta['step']}), the newest checkpoint every worker has; this worker's "
                        "newer ones are not on all of them and are removed.",
                        UserWarning,
                        stacklevel=3,
                    )
                    self._active.discard_newer_than(path)
                self._restore(*self._active.read(path), path)
            elif candidates:
                warnings.warn(
                    f"BackupAndRestore: no checkpoint in {self._active.directory!r} is on every "
                    "worker; all workers start from scratch.",
                    UserWarning,
                    stacklevel=3,
                )
        except Exception as caught:  # noqa: BLE001 - re-raised after the collective
            error = caught
        _, failed = _agree(strategy, [], error is not None)
        if error is not None:
            raise error
        if failed:
            raise ValueError(
                "BackupAndRestore: another worker failed to restore the agreed checkpoint (its own "
                "error says why); no worker resumes."
            )

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
        self.model._initial_epoch = None  # Keras leaves it set; a later fit must not inherit it
        if self.delete_checkpoint:
            self._active.delete_all()
            if self._active is not self._store:
                self._store.remove_if_empty()  # backup_dir itself, once the last worker's folder is gone
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

    # ---------------------------------------------------------------- contents

    def _groups(self):
        model = self.model
        optimizer = model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        groups = {
            "model": list(model.variables),
            "optimizer": list(optimizer.variables) if optimizer is not None else [],
            "metrics": list(model.metrics_variables),
        }
        generator = _global_seed_generator()
        groups["seed"] = [generator.state] if generator is not None else []
        return groups

    def _save(self, epoch, step):
        groups = self._groups()
        arrays, described = {}, {}
        for group, variables in groups.items():
            described[group] = []
            for i, variable in enumerate(variables):
                value = _to_numpy(variable)
                arrays[f"{group}/{i}"] = value
                described[group].append([variable.path, list(value.shape), str(value.dtype)])
        trainable = {id(variable) for variable in self.model.trainable_variables}
        for i, variable in enumerate(groups["model"]):
            value = arrays[f"model/{i}"]
            if id(variable) in trainable and np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
                warnings.warn(
                    f"BackupAndRestore: not saving at epoch {epoch}, step {step}: "
                    f"variable {variable.path} holds NaN or inf.",
                    UserWarning,
                    stacklevel=2,
                )
                return
        callbacks = []
        for i, callback in enumerate(self._stateful):
            state = _callback_state.encode(_callback_state.get_state(callback), f"callbacks/{i}", arrays)
            callbacks.append({"class": type(callback).__name__, "state": state})
        numpy_rng = np.random.get_state()
        arrays["rng/numpy"] = numpy_rng[1]
        meta = {
            "format": FORMAT,
            "epoch": int(epoch),
            "step": int(step),
            "position": self._cursor.position() if self._cursor is not None else None,
            "variables": described,
            "callbacks": callbacks,
            "numpy_rng": [numpy_rng[0], int(numpy_rng[2]), int(numpy_rng[3]), float(numpy_rng[4])],
            "python_rng": _python_rng_to_json(random.getstate()),
        }
        self._active.write(arrays, meta)

    def _restore(self, arrays, meta, path):
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a kerasplus BackupAndRestore checkpoint (format {meta.get('format')!r}).")
        if not self.model.built:
            raise ValueError(
                "BackupAndRestore needs a built model to restore into: build it "
                "(or call it on a batch) before fit."
            )
        groups = self._groups()
        for group, variables in groups.items():
            saved = meta["variables"].get(group, [])
            if group in ("seed", "metrics") and len(saved) != len(variables):
                continue  # created lazily: may not exist yet in this process
            _check_same(group, saved, variables, path, names=group == "model")
        for group, variables in groups.items():
            if group == "metrics" or len(meta["variables"].get(group, [])) != len(variables):
                continue
            for i, variable in enumerate(variables):
                variable.assign(arrays[f"{group}/{i}"])
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
            self._pending_metrics = [arrays[f"metrics/{i}"] for i in range(len(meta["variables"]["metrics"]))]
        if self._cursor is not None and position is not None:
            self._cursor.resume(position["iterators"], position["consumed"], step)
        self.model._initial_epoch = epoch
        if self._mid_epoch and step > 0:
            self._since_save = step % self.save_freq
        name, pos, has_gauss, gauss = meta["numpy_rng"]
        np.random.set_state((name, arrays["rng/numpy"], pos, has_gauss, gauss))
        random.setstate(_python_rng_from_json(meta["python_rng"]))
        self._restore_callbacks(meta["callbacks"], arrays, path)
        self.restored_from = path

    def _restore_callbacks(self, saved, arrays, path):
        if len(saved) != len(self._stateful) or any(
            entry["class"] != type(callback).__name__ for entry, callback in zip(saved, self._stateful)
        ):
            warnings.warn(
                f"BackupAndRestore: {path} holds the state of callbacks "
                f"{[entry['class'] for entry in saved]}, this fit has "
                f"{[type(c).__name__ for c in self._stateful]}; their state is not restored.",
                UserWarning,
                stacklevel=4,
            )
            return
        for entry, callback in zip(saved, self._stateful):
            state = _callback_state.decode(entry["state"], arrays)
            if id(callback) in self._after_me:
                self._pending_states.append((callback, state))  # after its own on_train_begin
            else:
                _callback_state.set_state(callback, state)


def _check_same(group, saved, variables, path, names):
    for i, variable in enumerate(variables):
        shape = list(variable.shape)
        if i >= len(saved):
            raise ValueError(
                f"{path} was written for a different model: it has no {group} variable "
                f"#{i} {variable.path} {tuple(shape)} (it holds {len(saved)} {group} variables)."
            )
        saved_path, saved_shape, _ = saved[i]
        # Layer names differ between processes (dense vs dense_3); a variable's own name does not.
        renamed = names and saved_path.split("/")[-1] != variable.path.split("/")[-1]
        if saved_shape != shape or renamed:
            raise ValueError(
                f"{path} was written for a different model: {group} variable #{i} is "
                f"{saved_path} {tuple(saved_shape)} there and {variable.path} {tuple(shape)} here."
            )
    if len(saved) > len(variables):
        extra = saved[len(variables)]
        raise ValueError(
            f"{path} was written for a different model: its {group} variable "
            f"#{len(variables)} {extra[0]} {tuple(extra[1])} has no counterpart here."
        )


def _python_rng_to_json(state):
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_rng_from_json(state):
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def _to_numpy(variable):
    """A variable's value as numpy; a tf.distribute variable reads its primary copy."""
    value = variable.value
    if hasattr(value, "numpy"):  # TF: also MirroredVariable, whose __array__ numpy rejects
        return np.asarray(value.numpy())
    return keras.ops.convert_to_numpy(value)


def _key(meta) -> int:
    """Where a checkpoint is in training, as one integer (epoch-major)."""
    return int(meta["epoch"]) * 2**31 + int(meta["step"])


_WORKER_FOLDER = re.compile(r"^(chief|worker)-\d+$")


def _worker_folders(backup_dir) -> list:
    """Folders of a multi-worker run's workers in `backup_dir`."""
    try:
        names = os.listdir(backup_dir)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if _WORKER_FOLDER.match(n) and os.path.isdir(os.path.join(backup_dir, n)))


def _multi_worker_task(strategy):
    """``(task_type, task_id)`` when `strategy` trains across several worker processes, else None."""
    if strategy is None or keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None
    resolver = strategy.cluster_resolver
    if resolver is None or not resolver.task_type:
        return None
    jobs = resolver.cluster_spec().as_dict()
    if sum(len(jobs.get(job, [])) for job in ("chief", "worker")) < 2:
        return None
    return resolver.task_type, int(resolver.task_id)


_WIDTH = 64  # checkpoints compared per worker; `keep` is far smaller in practice


def _pack(keys, failed: bool) -> list:
    """One worker's contribution to `_agree`: a failure flag (-2, else -1), its distinct keys, -1 padding."""
    unique = sorted(set(keys), reverse=True)[: _WIDTH - 1]  # a worker counts once per key
    return [-2 if failed else -1] + unique + [-1] * (_WIDTH - 1 - len(unique))


def _agree(strategy, keys, failed: bool) -> tuple[set, bool]:
    """The checkpoint keys every worker holds, and whether any worker passed ``failed=True``.

    A collective: every worker must call it, the same number of times.
    """
    import tensorflow as tf

    padded = tf.constant(_pack(keys, failed), tf.int64)
    values = strategy.experimental_distribute_values_from_function(lambda context: padded)
    gathered = strategy.gather(values, axis=0).numpy()
    # Every replica of a worker gives that worker's keys, so a key on every
    # worker appears once per replica in sync.
    found, counts = np.unique(gathered[gathered >= 0], return_counts=True)
    everywhere = {int(k) for k, c in zip(found, counts) if c == strategy.num_replicas_in_sync}
    return everywhere, bool((gathered == -2).any())
