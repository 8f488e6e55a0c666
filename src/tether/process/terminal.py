"""The terminal side of running a command: a pseudo-terminal, raw mode, window size, line ends.

When ``tether run``'s stdout is a terminal, the command gets a pseudo-terminal
(as pre-commit's ``Pty`` does), so that it sees ``isatty()`` true and keeps its
colours, progress bars and line buffering. The pty's size follows ours
(SIGWINCH). When our stdin is the terminal too, it is put in raw mode and the
keys are passed through, so that Ctrl-C reaches the command through its own
terminal, as without tether.

:func:`at_line_start` and :func:`line_break` let tether's own lines start on a
line of their own: the echo of the command's output notes whether its last
byte was a newline.

Only the standard library is imported: this is on ``tether run``'s fast path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import IO

__all__ = [
    "at_line_start",
    "copy_window_size",
    "line_break",
    "note_echo",
    "open_pty",
    "raw_mode",
    "window_size_follows",
]

_at_line_start = True


def note_echo(data: bytes) -> None:
    """Record that ``data`` (non-empty) was just echoed from a command to our stdout or stderr."""
    global _at_line_start
    if data:
        _at_line_start = data.endswith((b"\n", b"\r"))


def at_line_start() -> bool:
    """The last byte of command output echoed ended a line (or nothing was echoed)."""
    return _at_line_start


def line_break(file: IO[str] | None = None) -> None:
    """Write a newline to ``file`` (default: stderr) if the command's output left a line open.

    Call it before printing a line of tether's own, so that it never sticks to the
    command's last line.
    """
    global _at_line_start
    if _at_line_start:
        return
    out = file if file is not None else sys.stderr
    with contextlib.suppress(OSError, ValueError):
        out.write("\n")
        out.flush()
    _at_line_start = True


def _terminal_fd() -> int | None:
    for fd in (1, 2, 0):
        with contextlib.suppress(OSError):
            if os.isatty(fd):
                return fd
    return None


def copy_window_size(target_fd: int) -> None:
    """Give the terminal at ``target_fd`` (a pty) the window size of ours, if we have one."""
    import fcntl
    import termios

    source = _terminal_fd()
    if source is None:
        return
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target_fd, termios.TIOCSWINSZ, size)


def open_pty() -> tuple[int, int]:
    """A new pseudo-terminal ``(master_fd, slave_fd)`` with our window size.

    Raises:
        OSError: the system has no pseudo-terminal to give.
    """
    master, slave = os.openpty()
    copy_window_size(slave)
    return master, slave


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put the terminal ``fd`` in raw mode while inside (a no-op if it is not a terminal)."""
    import termios
    import tty

    try:
        saved = termios.tcgetattr(fd)
        tty.setraw(fd, termios.TCSANOW)
    except (OSError, termios.error):
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def window_size_follows(master_fd: int) -> Iterator[None]:
    """While inside, resize the pty at ``master_fd`` when our window is resized (SIGWINCH).

    Outside the main thread (where Python allows no handler) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGWINCH, lambda signum, frame: copy_window_size(master_fd))
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)
