"""Writing a checkpoint in a background thread: one write in flight, its failure raised at the next save.

`BackgroundWriter.submit(write, path)` first waits for the write in flight (and
raises its error, if it failed), then starts `write()` in a new thread and
returns. `wait()` blocks until the write in flight is done and raises its
error: `BackupAndRestore` calls it at the next save, before it raises
`Preempted`, and at the end of `fit`. The arrays a write reads must already be
copies the training thread no longer changes (`snapshot`).

The thread is not a daemon: a program that ends (by an exception out of `fit`,
say) still finishes the write in flight before the interpreter exits; a
process killed meanwhile leaves the previous checkpoints (the write is atomic:
temporary file, fsync, `os.replace`). Every writer of a directory is known
here (`drain`), so a later `fit` on the same directory in this process waits
for a write a crashed `fit` left in flight before it reads the checkpoints.
"""

from __future__ import annotations

import os
import threading
import warnings
import weakref

import numpy as np

from kerasplus.callbacks._training_state import HostCopyLater

_writers = weakref.WeakSet()
_writers_lock = threading.Lock()


def snapshot(arrays: dict) -> dict:
    """`arrays` with every array that may share memory with a live variable (a torch view) copied.

    An immutable TensorFlow read (`_training_state.HostCopyLater`) is kept as
    it is: the write copies it to host memory, in the background thread.
    """
    return {
        name: value
        if isinstance(value, HostCopyLater)
        or (isinstance(value, np.ndarray) and value.flags.owndata and value.flags.c_contiguous)
        else np.array(value, order="C", copy=True)
        for name, value in arrays.items()
    }


class BackgroundWriter:
    """Runs one write at a time, in a background thread when `asynchronous` (else in the caller's)."""

    def __init__(self, directory: str, asynchronous: bool):
        self.directory = os.path.realpath(os.fspath(directory))
        self.asynchronous = asynchronous
        self._thread = None
        self._error = None
        self._path = None
        with _writers_lock:
            _writers.add(self)

    @property
    def in_flight(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, write, path: str) -> None:
        """Waits for the write in flight (raising its error), then runs ``write()`` (writing `path`)."""
        self.wait()
        if not self.asynchronous:
            write()
            return
        self._path = path
        self._thread = threading.Thread(target=self._run, args=(write,), name="kerasplus-checkpoint-write")
        self._thread.start()

    def _run(self, write):
        try:
            write()
        except BaseException as error:  # noqa: BLE001 - raised in the training thread by `wait`
            self._error = error

    def wait(self) -> None:
        """Blocks until the write in flight is done; raises its error (once), noting the checkpoint's path."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        error, self._error = self._error, None
        if error is not None:
            error.add_note(f"BackupAndRestore: raised writing checkpoint {self._path} in the background.")
            raise error

    def forget(self) -> None:
        """Waits for the write in flight and drops its error, with a warning (its fit is gone)."""
        try:
            self.wait()
        except BaseException as error:  # noqa: BLE001 - nobody is left to raise it to
            warnings.warn(
                f"BackupAndRestore: a checkpoint write of an earlier fit failed ({type(error).__name__}: "
                f"{error}); that checkpoint is not there.",
                UserWarning,
                stacklevel=3,
            )


def drain(directory: str, but=None) -> None:
    """Waits for every write in flight into `directory` (or a folder in it), except `but`'s."""
    root = os.path.realpath(os.fspath(directory))
    with _writers_lock:
        writers = list(_writers)
    for writer in writers:
        if writer is not but and (writer.directory == root or writer.directory.startswith(root + os.sep)):
            writer.forget()
