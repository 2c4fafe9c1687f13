"""A directory of numbered checkpoints written atomically, the last N kept; and its worker folders.

The store owns the whole layout of `backup_dir`: the checkpoint files
``ckpt-<8 digits>.npz`` of a single-process run directly in it, those of each
worker of a multi-worker run in ``<task_type>-<task_id>/`` (`worker`), the
temporary files of an interrupted write, and the cleanup. Nothing else builds
a path into it.

Each checkpoint is one ``.npz`` file (arrays plus a JSON header stored as
bytes, and the SHA-256 of that header). The header lists every array with its
shape, dtype and the SHA-256 of its bytes. It is written to a temporary file
in the same directory, flushed and fsync'ed, then renamed over its final name
with `os.replace` (atomic on POSIX), and the directory is fsync'ed: a kill at
any moment leaves either the previous set of checkpoints or the new one.
Once on disk, the file's pages are dropped from the page cache
(`posix_fadvise(DONTNEED)`, where the OS has it): nothing reads a checkpoint
again until a restore, and a cache that keeps every written checkpoint makes
each write take fresh memory -- measured on this project's VM, writing 283 MB
into a new file costs ~0.9 s of CPU, ~0.1 s when the previous checkpoint's
pages were dropped (benchmarks/RESULTS.md, checkpoint_overhead.py).

Reading trusts nothing (`read`): the zip directory is checked first (stored,
not compressed or encrypted, each member inside the file), then the header's
checksum and structure, then every array's npy header (dtype, shape, size
against the header and the member), then a caller's check of those headers
(against the model) -- all before any array is read -- and last each array's
checksum. Whatever is wrong, `read` raises `CheckpointRejected` with the
reason; `latest`/`readable` then skip that file, with a warning naming it, for
the one before.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

_NAME = re.compile(r"^ckpt-(\d{8})\.npz$")
_WORKER_FOLDER = re.compile(r"^(chief|worker)-\d+$")
_META = "__meta__"
_DIGEST = "__digest__"
_MAX_META_BYTES = 64 * 2**20


class CheckpointRejected(ValueError):
    """A checkpoint file that is not used: damaged, hand-made, foreign or impossible (the message says why)."""


class ArrayHeader(NamedTuple):
    """What an array's npy header says, read before its data."""

    shape: tuple
    dtype: np.dtype


class Checkpoint(NamedTuple):
    """One checkpoint as read (every array loaded, checksums checked): its file, arrays and JSON header."""

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
            name
            for name in self._names()
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

    def next_path(self) -> str:
        """The path the next new checkpoint gets (the number after the newest one's)."""
        numbered = self._numbered()
        number = numbered[0][0] + 1 if numbered else 0
        return os.path.join(self.directory, f"ckpt-{number:08d}.npz")

    def write(self, arrays: dict, meta: dict, replace: str | None = None) -> str:
        """Writes a new checkpoint (the next number), or atomically (re)writes `replace`; returns its path.

        The arrays are not copied when they are C-contiguous: the caller must
        not change them until `write` returns (`BackupAndRestore` hands it a
        snapshot).
        """
        path = replace if replace is not None else self.next_path()
        number = int(_NAME.match(os.path.basename(path)).group(1))
        arrays = {name: np.asarray(value, order="C") for name, value in arrays.items()}  # 0-d stays 0-d
        meta = dict(meta, arrays={name: _describe(value) for name, value in arrays.items()})
        header = json.dumps(meta).encode("utf-8")
        digest = np.frombuffer(hashlib.sha256(header).digest(), dtype=np.uint8)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".ckpt-{number:08d}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays, **{_META: np.frombuffer(header, dtype=np.uint8), _DIGEST: digest})
                f.flush()
                os.fsync(f.fileno())
                _drop_from_page_cache(f.fileno())
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
    def read(path, check_headers: Callable | None = None) -> Checkpoint:
        """One checkpoint, verified; raises `CheckpointRejected` (with the reason) if it is not usable.

        `check_headers(meta, headers)`, if given, sees the header and each
        array's `ArrayHeader` before any array is read, and raises
        `CheckpointRejected` to refuse the file.
        """
        try:
            return _read_verified(os.fspath(path), check_headers)
        except CheckpointRejected:
            raise
        except Exception as error:  # noqa: BLE001 - whatever a damaged file makes zipfile, numpy or json raise
            raise CheckpointRejected(f"{type(error).__name__}: {error}") from None

    def _each_readable(self, check=None):
        """Yields ``(checkpoint, unusable newer paths)`` newest first, each file read once.

        A checkpoint that is not usable (truncated, bit-flipped, hand-made,
        another model's, an impossible position: see `read`; `check(meta,
        headers)` and then `check(checkpoint)` are the caller's) is left in
        place, with a warning naming it and the reason. Raises once all were
        tried if there were some and none was usable.
        """
        failed, reasons, any_loaded = [], [], False
        for _, path in self._numbered():
            try:
                checkpoint = self.read(path, check.headers if check is not None else None)
                if check is not None:
                    check.content(checkpoint)
            except CheckpointRejected as error:
                failed.append(path)
                reasons.append(f"{path}: {error}")
                warnings.warn(
                    f"BackupAndRestore: checkpoint {path} is corrupt or unusable ({error}); trying the previous one.",
                    UserWarning,
                    stacklevel=4,
                )
                continue
            any_loaded = True
            yield checkpoint, list(failed)
        if failed and not any_loaded:
            raise ValueError(
                f"BackupAndRestore: no checkpoint in {self.directory!r} can be used ({'; '.join(reasons)}); "
                "move them away to start from scratch."
            )

    def readable(self, check=None) -> list:
        """Every checkpoint that loads, read once and held (`Checkpoint`), newest first.

        For a choice made after reading them all (workers agreeing on one):
        the chosen one's content is already here. Warns of, and raises when
        all are, unreadable as `latest` does.
        """
        return [checkpoint for checkpoint, _ in self._each_readable(check)]

    def latest(self, check=None) -> Checkpoint | None:
        """The newest checkpoint that loads, or None; older ones are not read.

        If newer ones do not load, the previous one is used, with a warning.
        """
        for checkpoint, failed in self._each_readable(check):
            if failed:
                warnings.warn(
                    f"BackupAndRestore: resuming from {checkpoint.path}, older than the unusable {', '.join(failed)}.",
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


def _drop_from_page_cache(fd: int) -> None:
    """Asks the OS to drop the (fsync'ed, clean) pages of `fd` from its cache; a no-op where it cannot."""
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:  # advice only: a filesystem without it keeps its cache
            pass


def _describe(value: np.ndarray) -> list:
    """``[shape, dtype, sha256 of the bytes]`` of an array as the header lists it."""
    return [list(value.shape), value.dtype.str, hashlib.sha256(value.data).hexdigest()]  # C-contiguous: no copy


def _reject(reason: str):
    raise CheckpointRejected(reason)


def _members(archive, file_size):
    """``{array name: ZipInfo}``; refuses what `CheckpointStore.write` never writes."""
    members = {}
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(".npy") or name[:-4] in members:
            _reject(f"unexpected or repeated member {name!r}")
        if info.flag_bits & 0x1:
            _reject(f"member {name!r} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            _reject(f"member {name!r} is compressed")
        if info.file_size > file_size or info.header_offset + info.file_size > file_size:
            _reject(f"member {name!r} claims {info.file_size} bytes, more than the file holds")
        members[name[:-4]] = info
    return members


def _array_header(archive, info):
    """``(ArrayHeader, header length)`` of one npy member; its data is not read."""
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            _reject(f"array {info.filename!r} has npy format version {version}")
        offset = f.tell()
    if fortran or dtype.hasobject or dtype.kind not in "biufc" or dtype.names is not None or dtype.subdtype:
        _reject(f"array {info.filename!r} has dtype {dtype} (fortran order {fortran}); not a numeric array")
    if any(not isinstance(n, int) or n < 0 for n in shape):
        _reject(f"array {info.filename!r} has shape {shape}")
    if offset + math.prod(shape) * dtype.itemsize != info.file_size:
        _reject(
            f"array {info.filename!r} claims shape {shape} of {dtype} "
            f"({math.prod(shape) * dtype.itemsize} bytes) in a member of {info.file_size - offset}"
        )
    return ArrayHeader(tuple(shape), dtype), offset


def _array_data(archive, info, header, offset):
    """The array's bytes, exactly the size its (already checked) header says."""
    with archive.open(info) as f:
        f.read(offset)
        size = math.prod(header.shape) * header.dtype.itemsize
        data = f.read(size)
        if len(data) != size or f.read(1):
            _reject(f"array {info.filename!r} is truncated or too long")
    return data


def _read_verified(path, check_headers):
    file_size = os.path.getsize(path)
    with zipfile.ZipFile(path) as archive:
        members = _members(archive, file_size)
        for required in (_META, _DIGEST):
            if required not in members:
                _reject(f"no {required!r} member")
        headers = {}
        for name, info in members.items():
            headers[name] = _array_header(archive, info)
        meta_header, meta_offset = headers.pop(_META)
        digest_header, digest_offset = headers.pop(_DIGEST)
        if meta_header.dtype != np.uint8 or len(meta_header.shape) != 1 or meta_header.shape[0] > _MAX_META_BYTES:
            _reject(f"the JSON header is {meta_header.dtype} {meta_header.shape}")
        if digest_header.dtype != np.uint8 or digest_header.shape != (32,):
            _reject("the header checksum is not 32 bytes")
        meta_bytes = _array_data(archive, members[_META], meta_header, meta_offset)
        digest = _array_data(archive, members[_DIGEST], digest_header, digest_offset)
        if hashlib.sha256(meta_bytes).digest() != digest:
            _reject("the JSON header does not match its checksum")
        meta = json.loads(meta_bytes.decode("utf-8"))
        if not isinstance(meta, dict):
            _reject(f"the JSON header is a {type(meta).__name__}, not an object")
        described = meta.get("arrays")
        if not isinstance(described, dict) or set(described) != set(headers):
            _reject("the arrays in the file are not those the header lists")
        for name, (header, _) in headers.items():
            entry = described[name]
            if (
                not isinstance(entry, list)
                or len(entry) != 3
                or entry[0] != list(header.shape)
                or entry[1] != header.dtype.str
                or not isinstance(entry[2], str)
            ):
                _reject(f"array {name!r} is {header.dtype.str} {header.shape} in the file, {entry!r} in the header")
        plain = {name: header for name, (header, _) in headers.items()}
        if check_headers is not None:
            check_headers(meta, plain)
        arrays = {}
        for name, (header, offset) in headers.items():
            data = _array_data(archive, members[name], header, offset)
            if hashlib.sha256(data).hexdigest() != described[name][2]:
                _reject(f"array {name!r} does not match its checksum")
            arrays[name] = np.frombuffer(data, dtype=header.dtype).reshape(header.shape).copy()
    return Checkpoint(path, arrays, meta)
