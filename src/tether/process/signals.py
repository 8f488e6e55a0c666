"""Signals sent to ``tether run``: passed on to the command, or turned into an interrupt.

``tether run`` behaves like an init shim (tini, dumb-init): while a command runs
in its own session, SIGTERM, SIGINT, SIGHUP and SIGQUIT sent to tether are
forwarded to the command's process group, and tether keeps waiting for it, so
a command's own ``trap ... INT`` cleanup runs to its end. If the command is
still there ``grace_s`` seconds after the first signal, its group gets SIGKILL.

A signal that arrives while no command runs (tether is applying a fix, or
loading rules) raises :class:`Interrupted` in the main thread: recovery stops
after the current step and rolls the unverified fix back.

Only the standard library is imported: this is on ``tether run``'s fast path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from types import FrameType

__all__ = ["FORWARDED", "Interrupted", "SignalRelay"]

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
"""The signals :class:`SignalRelay` handles."""


class Interrupted(KeyboardInterrupt):
    """tether was sent ``signum``; ``exit_code`` is what to exit with.

    Args:
        signum: the signal's number (``signal.SIGTERM`` ...).
        exit_code: the interrupted command's own exit code, when a command was running
            (``None``: none was, and the exit code is ``128 + signum``, as a shell's).
    """

    def __init__(self, signum: int, exit_code: int | None = None) -> None:
        super().__init__(signum, exit_code)
        self.signum = signum
        self.exit_code = exit_code if exit_code is not None else 128 + signum

    def __str__(self) -> str:
        return f"interrupted by {signal.Signals(self.signum).name}"


class SignalRelay:
    """Forwards signals to the running command's process group, or interrupts tether.

    Example::

        relay = SignalRelay(grace_s=10)
        with relay.installed():
            result = run_command(argv, relay=relay, new_session=True)
            if relay.received is not None: ...

    Args:
        grace_s: seconds between the first forwarded signal and SIGKILL of the group.
        clock: monotonic time in seconds.

    Attributes:
        received: the last signal received while a command ran, until :meth:`take`.
        kill_at: when (``clock`` time) to SIGKILL the group; ``None`` before any signal.
        wake_fd: readable when a signal arrived (a run loop selects on it to wake up).
    """

    def __init__(self, grace_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = grace_s
        self.clock = clock
        self.received: int | None = None
        self.kill_at: float | None = None
        self._pgid: int | None = None
        self._starting = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    @property
    def wake_fd(self) -> int:
        """A file descriptor that becomes readable when a signal is handled."""
        return self._wake_r

    @contextlib.contextmanager
    def installed(self) -> Iterator[SignalRelay]:
        """Handle :data:`FORWARDED` signals while inside; the previous handlers come back after.

        Raises:
            ValueError: not called from the main thread (Python's rule for handlers).
        """
        previous = {sig: signal.signal(sig, self._handle) for sig in FORWARDED}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def starting(self) -> None:
        """A command is about to start: a signal now is kept for it, not raised."""
        self._starting = True
        self.received = None
        self.kill_at = None

    def attach(self, pgid: int) -> None:
        """The command runs as process group ``pgid``: forward to it (a signal kept is sent now)."""
        self._pgid = pgid
        self._starting = False
        if self.received is not None:
            self._forward(self.received)

    def detach(self) -> None:
        """The command is gone: signals interrupt tether again."""
        self._pgid = None
        self._starting = False
        self.kill_at = None
        with contextlib.suppress(OSError):
            while os.read(self._wake_r, 512):
                pass

    def take(self) -> int | None:
        """The signal received during the last command (``None`` if none); forgets it."""
        received, self.received = self.received, None
        return received

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._pgid is None and not self._starting:
            raise Interrupted(signum)
        self.received = signum
        if self.kill_at is None:
            self.kill_at = self.clock() + self.grace_s
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")
        if self._pgid is not None:
            self._forward(signum)

    def _forward(self, signum: int) -> None:
        assert self._pgid is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pgid, signum)

    def close(self) -> None:
        """Close the wake-up pipe."""
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
