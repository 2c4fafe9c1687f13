"""A directory of numbered checkpoints written atomically, the last N kept; and its worker folders.

The store owns the whole layout of `backup_dir`: the checkpoint files
``ckpt-<8 digits>.npz`` of a single-process run directly in it, those of each
worker of a multi-worker run in ``<task_type>-<task_id>/`` (`worker`), the
temporary files of an interrupted write, and the cleanup. Nothing else builds
a path into it.

Each checkpoint is one ``.npz`` file (arrays plus a JSON header stored as
bytes; loaded with ``allow_pickle=False``). It is written to a temporary file
in the same directory, flushed and fsync'ed, then renamed over its final name
with `os.replace` (atomic on POSIX), and the directory is fsync'ed: a kill at
any moment leaves either the previous set of checkpoints or the new one.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
import zipfile
from typing import NamedTuple

import numpy as np

_NAME = re.compile(r"^ckpt-(\d{8})\.npz$")
_WORKER_FOLDER = re.compile(r"^(chief|worker)-\d+$")
_META = "__meta__"
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


class Checkpoint(NamedTuple):
    """One checkpoint as read (every array loaded, CRCs checked): its file, arrays and JSON header."""

    path: str
    arrays: dict
    meta: dict


class CheckpointStore:
    """Checkpoints in `directory`, the newest `keep` kept.

    Args:
        directory: created if missing; must be writable (checked here).
        keep: how many checkpoints `write` leaves (>= 1).
        parent: the store whose worker folder this is (see `worker`), or None.
    """

    def __init__(self, directory: str, keep: int, parent: CheckpointStore | None = None):
        self.directory = os.fspath(directory)
        self.keep = keep
        self.parent = parent
        try:
            os.makedirs(self.directory, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".probe-"):
                pass
        except OSError as error:
            raise ValueError(
                f"`backup_dir` must be a directory this process can write; "
                f"received backup_dir={self.directory!r} ({error})."
            ) from None

    def worker(self, task_type: str, task_id: int, keep: int) -> CheckpointStore:
        """The store of one worker of a multi-worker run: the folder ``<task_type>-<task_id>`` in this one."""
        return CheckpointStore(os.path.join(self.directory, f"{task_type}-{int(task_id)}"), keep, parent=self)

    def worker_folders(self) -> list:
        """Names of the folders of a multi-worker run's workers in this directory."""
        return sorted(
            name for name in self._names()
            if _WORKER_FOLDER.match(name) and os.path.isdir(os.path.join(self.directory, name))
        )

    def ensure(self):
        """Creates the directory again if a finished `fit` removed it."""
        os.makedirs(self.directory, exist_ok=True)

    def _names(self):
        try:
            return os.listdir(self.directory)
        except FileNotFoundError:  # removed by delete_all (or by another worker's)
            return []

    def _numbered(self):
        """(number, path) of the complete checkpoints, newest first."""
        found = []
        for name in self._names():
            match = _NAME.match(name)
            if match:
                found.append((int(match.group(1)), os.path.join(self.directory, name)))
        return sorted(found, reverse=True)

    def checkpoint_names(self) -> list:
        """Names of the complete checkpoint files (not read)."""
        return [os.path.basename(path) for _, path in self._numbered()]

    def write(self, arrays: dict, meta: dict) -> str:
        numbered = self._numbered()
        number = numbered[0][0] + 1 if numbered else 0
        path = os.path.join(self.directory, f"ckpt-{number:08d}.npz")
        header = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".ckpt-{number:08d}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays, **{_META: header})
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        self._fsync_directory()
        for _, old in self._numbered()[self.keep :]:
            os.remove(old)
        return path

    def _fsync_directory(self):
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def remove_temporary_files(self):
        """Files a process killed in the middle of a write left behind."""
        for name in self._names():
            if name.startswith(".ckpt-") and name.endswith(".tmp"):
                try:
                    os.remove(os.path.join(self.directory, name))
                except OSError:
                    pass

    @staticmethod
    def read(path) -> Checkpoint:
        """One checkpoint, every array read (checks CRCs); raises if it does not load."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
        return Checkpoint(path, arrays, meta)

    def _each_readable(self):
        """Yields ``(checkpoint, unreadable newer paths)`` newest first, each file read once.

        A checkpoint that does not load (truncated, bad CRC, bad header) is
        left in place, with a warning. Raises once all were tried if there
        were some and none loaded.
        """
        failed, any_loaded = [], False
        for _, path in self._numbered():
            try:
                checkpoint = self.read(path)
            except _UNREADABLE as error:
                failed.append(path)
                warnings.warn(
                    f"BackupAndRestore: checkpoint {path} is corrupt or incomplete "
                    f"({type(error).__name__}: {error}); trying the previous one.",
                    UserWarning,
                    stacklevel=4,
                )
                continue
            any_loaded = True
            yield checkpoint, list(failed)
        if failed and not any_loaded:
            raise ValueError(
                f"BackupAndRestore: no checkpoint in {self.directory!r} can be read "
                f"({', '.join(failed)}); move them away to start from scratch."
            )

    def readable(self) -> list:
        """Every checkpoint that loads, read once and held (`Checkpoint`), newest first.

        For a choice made after reading them all (workers agreeing on one):
        the chosen one's content is already here. Warns of, and raises when
        all are, unreadable as `latest` does.
        """
        return [checkpoint for checkpoint, _ in self._each_readable()]

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint that loads, or None; older ones are not read.

        If newer ones do not load, the previous one is used, with a warning.
        """
        for checkpoint, failed in self._each_readable():
            if failed:
                warnings.warn(
                    f"BackupAndRestore: resuming from {checkpoint.path}, older than the "
                    f"unreadable {', '.join(failed)}.",
                    UserWarning,
                    stacklevel=3,
                )
            return checkpoint
        return None

    def discard_newer_than(self, path):
        """Removes the checkpoints numbered after `path` (a timeline that was not resumed)."""
        number = int(_NAME.match(os.path.basename(path)).group(1))
        for other, newer in self._numbered():
            if other > number:
                os.remove(newer)

    def delete_all(self):
        """Removes the checkpoints, then the directory if empty, then a worker folder's parent if empty."""
        for _, path in self._numbered():
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        self.remove_temporary_files()
        self.remove_if_empty()
        if self.parent is not None:
            self.parent.remove_if_empty()  # backup_dir itself, once the last worker's folder is gone

    def remove_if_empty(self):
        try:
            os.rmdir(self.directory)
        except OSError:
            pass  # not empty (something else lives there) or already gone
