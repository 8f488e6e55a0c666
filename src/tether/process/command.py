"""Running a shell-level job: stream its output live while keeping a copy for matching.

The child's bytes go to our stdout/stderr unchanged as they arrive (non-UTF-8
output included), from one loop in the calling thread: each chunk is echoed
before the next is read, so stdout and stderr keep the interleaving the OS
delivers. The copy kept for the failure's context is capped per stream,
keeping the head and the tail (:class:`HeadTail`), and decoded as UTF-8 with
replacement characters.

With ``pty=True`` the child's stdout and stderr are one pseudo-terminal
(:mod:`tether.process.terminal`): it sees a terminal, as it would without
tether. The two streams then arrive as one, and the result says so
(``merged``): ``stdout`` and ``stderr`` both hold the whole text, so rules
looking at either still match.

The command's exit ends the wait, not the end of its output: a background
child still holding the pipes (``sh -c 'sleep 60 & exit 0'``) gets a short
drain (``drain_s``), then the result is returned.

A command that cannot start is reported the way shells do: exit code 127
("command not found") or 126 ("Permission denied"), with that text on stderr,
so rules written for shell output match it too. A child killed by signal N
exits ``128 + N``.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from tether.process import terminal
from tether.process.stdin import StdinFeed, StdinReader

if TYPE_CHECKING:
    from tether.process.signals import SignalRelay

__all__ = ["CAPTURE_HEAD_BYTES", "CAPTURE_TAIL_BYTES", "CommandResult", "HeadTail", "run_command"]

CAPTURE_HEAD_BYTES = 64 * 1024
"""Bytes kept from the start of each stream."""
CAPTURE_TAIL_BYTES = 448 * 1024
"""Bytes kept from the end of each stream."""


class HeadTail:
    """A byte sink keeping the first ``head`` and the last ``tail`` bytes written to it."""

    def __init__(self, head: int = CAPTURE_HEAD_BYTES, tail: int = CAPTURE_TAIL_BYTES) -> None:
        self.head_limit, self.tail_limit = head, tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def write(self, data: bytes) -> None:
        """Add ``data``."""
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.tail_limit:
                del self.tail[: len(self.tail) - self.tail_limit]

    @property
    def truncated(self) -> bool:
        """True when bytes were dropped from the middle."""
        return self.total > len(self.head) + len(self.tail)

    def text(self, crlf: bool = False) -> str:
        """What was kept, as text; a marker line stands where bytes were dropped.

        Args:
            crlf: the bytes came from a terminal: its ``\\r\\n`` line ends become ``\\n``.
        """
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.truncated:
            dropped = self.total - len(self.head) - len(self.tail)
            text = f"{head}\n[... {dropped} bytes omitted ...]\n{tail}"
        else:
            text = head + tail
        return text.replace("\r\n", "\n") if crlf else text


@dataclass
class CommandResult:
    """A finished command: exit code, captured text, wall time in seconds."""

    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    cwd: str
    truncated: bool = False
    """Bytes were dropped from the middle of stdout or stderr (head and tail kept)."""
    timed_out: bool = False
    """The command outlived its timeout and its process group was killed."""
    merged: bool = False
    """stdout and stderr came as one stream (a pseudo-terminal): both fields hold all of it."""
    signal: int | None = None
    """The signal tether was sent while the command ran (it was forwarded to the command)."""

    def context(self) -> dict[str, Any]:
        """The failure context tether matches rules against."""
        return {
            "command": shlex.join(self.argv),
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "cwd": self.cwd,
        }


def _start_failure(argv: list[str], where: str, exc: OSError) -> tuple[int, str]:
    if isinstance(exc, FileNotFoundError) and not os.path.isdir(where):
        return 1, f"tether: cannot change directory to {where}: No such file or directory"
    if isinstance(exc, FileNotFoundError):
        return 127, f"tether: {argv[0]}: command not found"
    if isinstance(exc, PermissionError):
        return 126, f"tether: {argv[0]}: Permission denied"
    return 126, f"tether: {argv[0]}: {exc.strerror or exc}"


def run_command(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stream: bool = True,
    timeout_s: float | None = None,
    grace_s: float = 2.0,
    head_bytes: int = CAPTURE_HEAD_BYTES,
    tail_bytes: int = CAPTURE_TAIL_BYTES,
    stdin: bool | StdinFeed = False,
    pty: bool = False,
    new_session: bool | None = None,
    relay: SignalRelay | None = None,
    drain_s: float = 0.2,
) -> CommandResult:
    """Run ``argv`` (no shell), streaming its output if ``stream``; return what happened.

    Example::

        result = run_command(["make", "-j4"], cwd="build", stream=False)
        if result.exit_code: print(result.stderr)

    Args:
        argv: the program and its arguments.
        cwd: working directory (default: the current one).
        env: the child's whole environment (default: ours, read at call time).
        stream: copy the child's output to our stdout/stderr as it arrives.
        timeout_s: kill the child after this many seconds (exit code 124, as ``timeout(1)``).
        grace_s: at the timeout the group gets SIGTERM, then SIGKILL after this many seconds.
        head_bytes: bytes kept from the start of each stream.
        tail_bytes: bytes kept from the end of each stream.
        stdin: ``False``: ``/dev/null``; ``True``: our stdin, as it is; a
            :class:`~tether.process.stdin.StdinFeed`: our stdin as ``tether run`` gives it
            (a pipe copied for re-runs, a file rewound; see :mod:`tether.process.stdin`).
        pty: give the child a pseudo-terminal for stdout and stderr (and stdin, when ours is
            a terminal); falls back to pipes when the system has none. Implies a new session.
        new_session: run the child in its own session and process group (default: with a
            timeout or a pty). Then the timeout kills the whole group (grandchildren holding
            the output open included); without one the child stays in our group, so Ctrl-C
            at a terminal reaches it as it would without tether.
        relay: forward the signals tether receives to the child's group
            (:class:`~tether.process.signals.SignalRelay`, installed by the caller in the
            main thread); implies a new session. The signal is in the result's ``signal``.
        drain_s: after the child exits, output still arriving is read until none has come
            for this many seconds (a background child holding the pipes does not hold us).

    Returns:
        A :class:`CommandResult`; the child's exit code, ``128 + N`` if signal N killed it,
        124 on timeout, 127/126 when it could not start.
    """
    argv = list(argv)
    where = os.fspath(cwd) if cwd is not None else os.getcwd()
    started = time.monotonic()
    session = bool(new_session if new_session is not None else timeout_s is not None)
    session = session or pty or relay is not None
    master = slave = -1
    if pty:
        try:
            master, slave = terminal.open_pty()
        except OSError:
            pty = False
    feed = stdin if isinstance(stdin, StdinFeed) else None
    tty_in = pty and (feed.kind == "tty" if feed is not None else stdin is True and os.isatty(0))
    child_stdin: int | None
    if tty_in:
        child_stdin = slave
    elif feed is not None:
        feed.rewind()
        child_stdin = {
            "tty": None,
            "file": feed.fd,
            "inherit": feed.fd,
            "pipe": subprocess.PIPE,
        }.get(feed.kind, subprocess.DEVNULL)
    else:
        child_stdin = None if stdin is True else subprocess.DEVNULL
    if relay is not None:
        relay.starting()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=where,
            env=dict(env) if env is not None else None,
            stdin=child_stdin,
            stdout=slave if pty else subprocess.PIPE,
            stderr=slave if pty else subprocess.PIPE,
            start_new_session=session,
            preexec_fn=_take_terminal if pty else None,
        )
    except OSError as exc:
        if relay is not None:
            relay.detach()
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
        code, text = _start_failure(argv, where, exc)
        if stream:
            terminal.line_break()
            print(text, file=sys.stderr, flush=True)
            terminal.note_echo(b"\n")
        return CommandResult(argv, code, "", text + "\n", time.monotonic() - started, where)
    if pty:
        os.close(slave)
    if relay is not None:
        relay.attach(proc.pid)
    run = _Run(proc, session, stream, head_bytes, tail_bytes, master if pty else None)
    run.stdin_reader = feed.reader() if feed is not None and feed.kind == "pipe" else None
    try:
        with contextlib.ExitStack() as stack:
            if pty:
                stack.enter_context(terminal.window_size_follows(master))
            if tty_in:
                stack.enter_context(terminal.raw_mode(0))
                run.forward_tty = True
            run.loop(timeout_s, grace_s, relay, drain_s)
    except BaseException:
        run.kill(signal.SIGKILL)
        proc.wait()
        raise
    finally:
        if relay is not None:
            relay.detach()
        run.close()
    code = 124 if run.timed_out else proc.returncode
    if code < 0:
        code = 128 - code
    if pty:
        text = run.sinks[0].text(crlf=True)
        out_text = err_text = text
    else:
        out_text, err_text = run.sinks[0].text(), run.sinks[1].text()
    return CommandResult(
        argv,
        code,
        out_text,
        err_text,
        time.monotonic() - started,
        where,
        truncated=any(sink.truncated for sink in run.sinks),
        timed_out=run.timed_out,
        merged=pty,
        signal=relay.received if relay is not None else None,
    )


def _take_terminal() -> None:
    """In the child, after ``setsid``: make the pty on fd 1 its controlling terminal."""
    import fcntl
    import termios

    with contextlib.suppress(OSError):
        fcntl.ioctl(1, termios.TIOCSCTTY, 0)


class _Run:
    """The I/O of one running child: output pipes (or the pty), stdin, exit, deadlines."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        session: bool,
        stream: bool,
        head_bytes: int,
        tail_bytes: int,
        master: int | None,
    ) -> None:
        self.proc = proc
        self.session = session
        self.sinks = [HeadTail(head_bytes, tail_bytes)]
        echo_out = sys.stdout.buffer if stream and hasattr(sys.stdout, "buffer") else None
        echo_err = sys.stderr.buffer if stream and hasattr(sys.stderr, "buffer") else None
        self.outputs: dict[int, tuple[HeadTail, IO[bytes] | None]] = {}
        self.master = master
        if master is not None:
            self.outputs[master] = (self.sinks[0], echo_out)
        else:
            assert proc.stdout is not None and proc.stderr is not None
            self.sinks.append(HeadTail(head_bytes, tail_bytes))
            self.outputs[proc.stdout.fileno()] = (self.sinks[0], echo_out)
            self.outputs[proc.stderr.fileno()] = (self.sinks[1], echo_err)
        self.child_in = proc.stdin.fileno() if proc.stdin is not None else None
        if self.child_in is not None:
            os.set_blocking(self.child_in, False)
        self.stdin_reader: StdinReader | None = None
        self.pending = b""
        self.forward_tty = False
        self.timed_out = False
        self.selector = selectors.DefaultSelector()
        self.registered: dict[int, int] = {}
        self.pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self.pidfd = os.pidfd_open(proc.pid)  # type: ignore[attr-defined,unused-ignore]

    def kill(self, sig: int) -> None:
        """Send ``sig`` to the child's group (its own session) or to the child alone."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.session:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)

    def _want(self, wanted: dict[int, int]) -> None:
        for fd in [fd for fd in self.registered if fd not in wanted]:
            self.selector.unregister(fd)
            del self.registered[fd]
        for fd, events in wanted.items():
            if fd not in self.registered:
                self.selector.register(fd, events)
            elif self.registered[fd] != events:
                self.selector.modify(fd, events)
            self.registered[fd] = events

    def _close_stdin(self) -> None:
        self.pending = b""
        self.stdin_reader = None
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self.child_in = None

    def loop(
        self, timeout_s: float | None, grace_s: float, relay: SignalRelay | None, drain_s: float
    ) -> None:
        """Pump output and input until the child has exited and its output is drained."""
        now = time.monotonic()
        deadline = now + timeout_s if timeout_s is not None else None
        kill_at: float | None = None
        drain_until: float | None = None
        drain_cap = 0.0
        while True:
            now = time.monotonic()
            if drain_until is None and self.proc.poll() is not None:
                drain_until, drain_cap = now + drain_s, now + max(2.0, drain_s)
                self._close_stdin()
                self.forward_tty = False
                if self.timed_out:
                    self.kill(signal.SIGKILL)  # stragglers in the group
            if drain_until is None:
                if deadline is not None and now >= deadline and not self.timed_out:
                    self.timed_out = True
                    self.kill(signal.SIGTERM)
                    kill_at = now + grace_s
                relay_kill = relay.kill_at if relay is not None else None
                if any(t is not None and now >= t for t in (kill_at, relay_kill)):
                    self.kill(signal.SIGKILL)
                    kill_at = relay_kill = None
                    if relay is not None:
                        relay.kill_at = None
            elif not self.outputs or now >= drain_until:
                return
            wanted = self._wanted(relay, drain_until is None)
            times = [t - now for t in (deadline, kill_at, drain_until) if t is not None]
            if relay is not None and relay.kill_at is not None:
                times.append(relay.kill_at - now)
            if self.pidfd is None and drain_until is None:
                times.append(0.05)
            timeout = max(0.0, min(times)) if times else None
            self._want(wanted)
            for key, events in self.selector.select(timeout):
                got = self._ready(int(key.fd), events, relay)
                if got and drain_until is not None:
                    drain_until = min(time.monotonic() + drain_s, drain_cap)

    def _wanted(self, relay: SignalRelay | None, running: bool) -> dict[int, int]:
        read, write = selectors.EVENT_READ, selectors.EVENT_WRITE
        wanted = dict.fromkeys(self.outputs, read)
        if relay is not None:
            wanted[relay.wake_fd] = read
        if not running:
            return wanted
        if self.pidfd is not None:
            wanted[self.pidfd] = read
        if self.forward_tty:
            wanted[0] = read
        if self.child_in is not None and self.stdin_reader is not None:
            if not self.pending:
                self.pending = self.stdin_reader.buffered()
            if self.pending:
                wanted[self.child_in] = write
            elif self.stdin_reader.done:
                self._close_stdin()
            else:
                wanted[self.stdin_reader.feed.fd] = read
        return wanted

    def _ready(self, fd: int, events: int, relay: SignalRelay | None) -> bool:
        """Handle one ready fd; True when command output was read."""
        if fd in self.outputs:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the pty's last holder closed it
                data = b""
            sink, echo = self.outputs[fd]
            if not data:
                del self.outputs[fd]
                self.selector.unregister(fd)
                del self.registered[fd]
                return False
            sink.write(data)
            if echo is not None:
                try:
                    echo.write(data)
                    echo.flush()
                    terminal.note_echo(data)
                except (OSError, ValueError):
                    self.outputs[fd] = (sink, None)
            return True
        if relay is not None and fd == relay.wake_fd:
            with contextlib.suppress(OSError):
                os.read(fd, 512)
        elif fd == self.child_in:
            try:
                sent = os.write(fd, self.pending)
                self.pending = self.pending[sent:]
            except BlockingIOError:
                pass
            except OSError:  # the command closed its stdin
                self._close_stdin()
        elif fd == 0 and self.forward_tty and self.master is not None:
            try:
                keys = os.read(0, 1024)
            except OSError:
                keys = b""
            if keys:
                with contextlib.suppress(OSError):
                    os.write(self.master, keys)
            else:
                self.forward_tty = False
        elif self.stdin_reader is not None and fd == self.stdin_reader.feed.fd:
            self.pending = self.stdin_reader.read()
        return False

    def close(self) -> None:
        """Close the selector and every file descriptor of this run."""
        self.selector.close()
        self._close_stdin()
        for fd in (self.pidfd, self.master):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
