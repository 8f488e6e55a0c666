"""Running a shell-level job: stream its output live while keeping a copy for matching.

The child's bytes go to our stdout/stderr unchanged as they arrive (non-UTF-8
output included); the copy kept for the failure's context is capped per
stream, keeping the head and the tail (:class:`HeadTail`), and decoded as
UTF-8 with replacement characters.

A command that cannot start is reported the way shells do: exit code 127
("command not found") or 126 ("Permission denied"), with that text on stderr,
so rules written for shell output match it too. A child killed by signal N
exits ``128 + N``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

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

    def text(self) -> str:
        """What was kept, as text; a marker line stands where bytes were dropped."""
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.truncated:
            dropped = self.total - len(self.head) - len(self.tail)
            return f"{head}\n[... {dropped} bytes omitted ...]\n{tail}"
        return head + tail


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

    def context(self) -> dict[str, Any]:
        """The failure context tether matches rules against."""
        return {
            "command": shlex.join(self.argv),
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "cwd": self.cwd,
        }


def _pump(source: IO[bytes], sink: HeadTail, echo: IO[bytes] | None) -> None:
    read = getattr(source, "read1", source.read)
    while True:
        chunk = read(65536)
        if not chunk:
            break
        sink.write(chunk)
        if echo is not None:
            try:
                echo.write(chunk)
                echo.flush()
            except (OSError, ValueError):
                echo = None


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
    stdin: bool = False,
) -> CommandResult:
    """Run ``argv`` (no shell), streaming its output if ``stream``; return what happened.

    Args:
        argv: the program and its arguments.
        cwd: working directory (default: the current one).
        env: the child's whole environment (default: ours, read at call time).
        stream: copy the child's output to our stdout/stderr as it arrives.
        timeout_s: kill the child after this many seconds (exit code 124, as ``timeout(1)``).
            With a timeout the child runs in its own session, so that the whole process
            group (grandchildren holding the output open included) is killed; without
            one it stays in ours, so Ctrl-C reaches it as it would without tether.
        grace_s: at the timeout the group gets SIGTERM, then SIGKILL after this many seconds.
        head_bytes: bytes kept from the start of each stream.
        tail_bytes: bytes kept from the end of each stream.
        stdin: let the child read our stdin when it is a terminal (else ``/dev/null``).
    """
    argv = list(argv)
    where = os.fspath(cwd) if cwd is not None else os.getcwd()
    started = time.monotonic()
    out, err = HeadTail(head_bytes, tail_bytes), HeadTail(head_bytes, tail_bytes)
    try:
        proc = subprocess.Popen(
            argv, cwd=where, env=dict(env) if env is not None else None,
            stdin=None if stdin and sys.stdin and sys.stdin.isatty() else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=timeout_s is not None,
        )  # fmt: skip
    except (FileNotFoundError, PermissionError, NotADirectoryError, OSError) as exc:
        if isinstance(exc, FileNotFoundError) and not os.path.isdir(where):
            code, text = 1, f"tether: cannot change directory to {where}: No such file or directory"
        elif isinstance(exc, FileNotFoundError):
            code, text = 127, f"tether: {argv[0]}: command not found"
        elif isinstance(exc, PermissionError):
            code, text = 126, f"tether: {argv[0]}: Permission denied"
        else:
            code, text = 126, f"tether: {argv[0]}: {exc.strerror or exc}"
        if stream:
            print(text, file=sys.stderr, flush=True)
        return CommandResult(argv, code, "", text + "\n", time.monotonic() - started, where)

    echo_out = sys.stdout.buffer if stream and hasattr(sys.stdout, "buffer") else None
    echo_err = sys.stderr.buffer if stream and hasattr(sys.stderr, "buffer") else None
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, out, echo_out), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err, echo_err), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    timed_out = False
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc, grace_s)
        code = 124
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if timed_out:
        for pump in pumps:  # a daemonised grandchild may still hold the pipes open
            pump.join(grace_s)
    else:
        for pump in pumps:
            pump.join()
    if code < 0:
        code = 128 - code
    return CommandResult(
        argv, code, out.text(), err.text(), time.monotonic() - started, where,
        truncated=out.truncated or err.truncated, timed_out=timed_out,
    )  # fmt: skip


def _kill_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the child's process group, then SIGKILL it if it is still there after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers in the group
            return
        except subprocess.TimeoutExpired:
            continue
