"""A directory of numbered checkpoints written atomically, the last N kept.

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

import numpy as np

_NAME = re.compile(r"^ckpt-(\d{8})\.npz$")
_META = "__meta__"
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


class CheckpointStore:
    def __init__(self, directory: str, keep: int):
        self.directory = os.fspath(directory)
        self.keep = keep
        try:
            os.makedirs(self.directory, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".probe-"):
                pass
        except OSError as error:
            raise ValueError(
                f"`backup_dir` must be a directory this process can write; "
                f"received backup_dir={self.directory!r} ({error})."
            ) from None

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
    def read(path):
        """``(arrays, meta)`` of one checkpoint, every array read (checks CRCs); raises if it does not load."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
        return arrays, meta

    def _each_loadable(self):
        """Yields ``(arrays, meta, path, unreadable newer paths)`` newest first; warns of each unreadable one.

        A checkpoint that does not load (truncated, bad CRC, bad header) is
        left in place. Raises once all were tried if there were some and none loaded.
        """
        failed, any_loaded = [], False
        for _, path in self._numbered():
            try:
                arrays, meta = self.read(path)
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
            yield arrays, meta, path, list(failed)
        if failed and not any_loaded:
            raise ValueError(
                f"BackupAndRestore: no checkpoint in {self.directory!r} can be read "
                f"({', '.join(failed)}); move them away to start from scratch."
            )

    def loadable(self):
        """``(meta, path)`` of every checkpoint that loads, newest first (see `_each_loadable`)."""
        return [(meta, path) for _, meta, path, _ in self._each_loadable()]

    def latest(self):
        """``(arrays, meta, path)`` of the newest checkpoint that loads, or None.

        If newer ones do not load, the previous one is used, with a warning.
        """
        for arrays, meta, path, failed in self._each_loadable():
            if failed:
                warnings.warn(
                    f"BackupAndRestore: resuming from {path}, older than the "
                    f"unreadable {', '.join(failed)}.",
                    UserWarning,
                    stacklevel=3,
                )
            return arrays, meta, path
        return None

    def discard_newer_than(self, path):
        """Removes the checkpoints numbered after `path` (a timeline that was not resumed)."""
        number = int(_NAME.match(os.path.basename(path)).group(1))
        for other, newer in self._numbered():
            if other > number:
                os.remove(newer)

    def delete_all(self):
        for _, path in self._numbered():
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
        self.remove_temporary_files()
        self.remove_if_empty()

    def remove_if_empty(self):
        try:
            os.rmdir(self.directory)
        except OSError:
            pass  # not empty (something else lives there) or already gone
