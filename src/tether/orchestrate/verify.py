"""What decides a goal run besides a model: the verifier command, protected paths, the diff stat.

- :func:`run_verifier` runs the ``--verify`` command through the shell in the workspace, in its
  own process group, killed (SIGKILL to the group) at its timeout; it keeps the output's tail.
- :func:`snapshot` hashes the files under the ``--protect`` paths, so that a change is seen
  whatever git says (untracked files, no repository at all).
- :func:`diff_stat` is the workspace's ``git diff --stat`` against the start commit plus its
  untracked files: evidence for the evaluator.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "OUTPUT_TAIL_CHARS",
    "VerifierRun",
    "diff_stat",
    "git_output",
    "run_verifier",
    "snapshot",
]

OUTPUT_TAIL_CHARS = 4000
"""Characters of verifier output kept (the end of it)."""


@dataclass(frozen=True)
class VerifierRun:
    """One run of the verifier command: ``command``, ``exit_code`` (``None`` on timeout),
    ``output`` (stdout+stderr tail), ``timed_out``, ``duration_s``."""

    command: str
    exit_code: int | None
    output: str
    timed_out: bool
    duration_s: float

    @property
    def passed(self) -> bool:
        """Exit code 0, in time."""
        return self.exit_code == 0 and not self.timed_out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "output": self.output,
            "timed_out": self.timed_out,
            "duration_s": round(self.duration_s, 3),
        }


def run_verifier(command: str, cwd: Path, timeout_s: float) -> VerifierRun:
    """Run ``command`` through the shell in ``cwd``; kill its process group after ``timeout_s``."""
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        shell=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=max(0.01, timeout_s))
        code: int | None = proc.returncode
        timed_out = False
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        code, timed_out = None, True
    text = out.decode("utf-8", errors="replace")[-OUTPUT_TAIL_CHARS:]
    if timed_out:
        text += f"\n[verifier timed out after {timeout_s:g}s]"
    return VerifierRun(command, code, text, timed_out, time.monotonic() - started)


def snapshot(root: Path, paths: Sequence[str]) -> dict[str, str]:
    """Content hashes of every file under the protected ``paths`` (relative to ``root``)."""
    out: dict[str, str] = {}
    for rel in paths:
        base = root / rel
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                digest = "unreadable"
            out[path.relative_to(root).as_posix()] = digest
    return out


def git_output(root: Path, *args: str) -> str:
    """``git -C root ARGS``'s stdout, or ``""`` when git fails or is missing."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def diff_stat(root: Path, base: str) -> str:
    """The workspace's changes since commit ``base``: ``git diff --stat`` plus untracked files."""
    stat = git_output(root, "diff", "--stat", base) if base else git_output(root, "diff", "--stat")
    untracked = [
        line[3:]
        for line in git_output(root, "status", "--porcelain").splitlines()
        if line[:2] == "??"
    ]
    if untracked:
        stat += "".join(f" {name} (new, untracked)\n" for name in untracked)
    return stat.strip()
