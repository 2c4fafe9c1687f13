"""Catching a termination signal during `fit`, so `BackupAndRestore` can save and stop cleanly.

`SignalCatcher` replaces the handlers of the given signals (main thread only)
with one that only records the signal; `BackupAndRestore` looks at it at each
batch boundary, writes a checkpoint there and raises `Preempted`. The previous
handlers come back with `uninstall` (when `fit` ends, by `Preempted` or not).

If `fit` does not reach a batch boundary within `GRACE_S` seconds of the
signal (it died of another error that the program caught, so nothing looks at
the flag any more; or a step takes that long), the previous handler is
applied to it after all: for ``SIG_DFL`` the process ends as it would have
without kerasplus. A second signal while the first is pending does the same
at once.

A handler installed by C code (TensorFlow installs one for SIGTERM with
`MultiWorkerMirroredStrategy`: it records the signal and the process trains
on) is invisible to `signal.getsignal`, which then says ``SIG_DFL``.
`SignalCatcher` keeps its raw ``sigaction`` (Linux) and puts it back too.
"""

from __future__ import annotations

import ctypes
import signal
import sys
import threading

GRACE_S = 60.0


class Preempted(SystemExit):
    """`fit` was stopped by a termination signal after `BackupAndRestore` wrote a checkpoint.

    A `SystemExit`, so that it ends the program (not caught by ``except
    Exception``) with exit status ``128 + signal number`` (143 for SIGTERM),
    which is what a shell reports for a process killed by that signal, without
    a traceback. Run the same script again to resume from `checkpoint`.

    Attributes:
        signal: the signal number received (the constructor's `signum`).
        checkpoint: the path of the checkpoint written (None if none could be).
        code: the exit status, ``128 + signal`` (`SystemExit`'s own attribute).

    Example:

    >>> import signal
    >>> from kerasplus.callbacks import Preempted
    >>> error = Preempted(signal.SIGTERM, "/tmp/backup")
    >>> error.signal, error.checkpoint, error.code
    (15, '/tmp/backup', 143)
    >>> print(error)
    fit stopped by SIGTERM; checkpoint /tmp/backup (exit status 143)
    >>> try:   # a job script that wants to log before exiting catches it by name
    ...     raise error
    ... except Preempted as stopped:
    ...     print(f"resume from {stopped.checkpoint}")
    resume from /tmp/backup
    """

    def __init__(self, signum: int, checkpoint: str | None) -> None:
        super().__init__(128 + int(signum))
        self.signal = int(signum)
        self.checkpoint = checkpoint

    def __str__(self):
        name = signal.Signals(self.signal).name
        return f"fit stopped by {name}; checkpoint {self.checkpoint} (exit status {self.code})"


_SIGACTION_BYTES = 256  # more than glibc's struct sigaction (152 bytes on x86-64 and aarch64)


def _raw_sigaction(signum, new=None):
    """The raw ``struct sigaction`` of `signum` (bytes), after installing `new` (bytes) if given; None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        old = ctypes.create_string_buffer(_SIGACTION_BYTES)
        act = ctypes.create_string_buffer(new, _SIGACTION_BYTES) if new is not None else None
        if libc.sigaction(int(signum), act, old) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return old.raw


def native_handler(signum):
    """The raw ``sigaction`` of a handler for `signum` that C code installed behind Python's back, else None."""
    python_view = signal.getsignal(signum)
    if callable(python_view):
        return None  # Python's own handler is installed: its view is right
    raw = _raw_sigaction(signum)
    if raw is None:
        return None
    handler = int.from_bytes(raw[: ctypes.sizeof(ctypes.c_void_p)], sys.byteorder)
    expected = int(signal.SIG_IGN) if python_view == signal.SIG_IGN else int(signal.SIG_DFL)
    return raw if python_view is None or handler != expected else None


class SignalCatcher:
    """Records the first of `signals` received while installed."""

    def __init__(self, signals) -> None:
        self.signals = tuple(signals)
        self.received = None
        self._previous = {}
        self._native = {}  # signum -> raw sigaction of a C-level handler to put back
        self._timer = None
        self._expired = False

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def install(self) -> bool:
        """Installs the handlers; False (nothing done) outside the main thread, where Python cannot."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self.received, self._expired = None, False
        for signum in self.signals:
            current = signal.getsignal(signum)
            stale = getattr(current, "__self__", None)
            if isinstance(stale, SignalCatcher) and stale is not self:
                current, native = stale.hand_over(signum)  # left installed by a fit that died of an error
            else:
                native = native_handler(signum)
            if native is not None:
                self._native[signum] = native
            self._previous[signum] = current
            signal.signal(signum, self._handle)
        return True

    def uninstall(self):
        """Puts the previous handlers back (main thread only; a no-op when not installed)."""
        self.cancel_timer()
        if threading.current_thread() is not threading.main_thread():
            return
        previous, self._previous = self._previous, {}
        native, self._native = self._native, {}
        for signum, handler in previous.items():
            if signal.getsignal(signum) == self._handle:
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
                if signum in native:
                    _raw_sigaction(signum, native[signum])  # Python's view stays what it was: SIG_DFL

    def hand_over(self, signum):
        """Forgets `signum` (another catcher takes it over): ``(the handler from before this one, its raw C one)``."""
        self.cancel_timer()
        return self._previous.pop(signum, signal.SIG_DFL), self._native.pop(signum, None)

    def cancel_timer(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _handle(self, signum, frame):
        if self.received is None and not self._expired:
            self.received = signum
            self._timer = threading.Timer(GRACE_S, self._expire, args=(signum,))
            self._timer.daemon = True
            self._timer.start()
            return
        # A second signal, or the grace period ran out: what would have happened without us.
        previous = self._previous.get(signum, signal.SIG_DFL)
        self.uninstall()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.raise_signal(signum)  # the default action, now that the default handler is back

    def _expire(self, signum):
        self._expired = True
        signal.raise_signal(signum)  # handled in the main thread, by `_handle`
