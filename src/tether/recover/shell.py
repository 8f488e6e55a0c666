"""A command as the user wrote it, and where its failing step ran.

``tether run -- bash -c 'cd sub && ./build.sh'`` fails in ``sub/``, not in the
directory tether started it in; a fix for ``cp: cannot create regular file
'dist/x'`` must create ``sub/dist``. :class:`CommandJob` works this out:

- A shell line (``sh|bash|zsh|dash|ksh [options] -c LINE``) is the context's
  ``command`` as written; the whole argv is kept under ``argv``. A rule's
  ``command: {regex: '^make'}`` then matches ``bash -c 'make -j4'``.
- A line with no directory change at command position (``cd``, ``pushd``,
  ``popd``, ``source``, ``.``, ``eval``) ran where it started.
- A line that changes directory in the shell itself gets an ``EXIT`` trap
  prepended on the same line (line numbers in the shell's messages stay as
  they were) that writes the shell's last ``$PWD`` to a private file: that is
  where the last step ran. A line whose own ``trap … EXIT`` or ``exec`` keeps
  the report from being written, or which changes directory inside a
  subshell, a command substitution or a pipeline, leaves the directory
  unknown.
- ``make`` announces the directories it enters (``make -C``, recursive make):
  output that entered exactly one directory failed there; more than one
  leaves it unknown.

When the directory is unknown the context has no ``cwd`` and says why under
``cwd_unknown``; the engine then applies no rule with steps, so a fix is
never made in the wrong place (a rule that only retries still runs). A script
that changes directory inside itself is beyond what tether can see: its
failures are taken to be in the directory it was started in.

Only the standard library is imported: ``tether run`` builds this before the
command's first run, on the fast path.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.process.command import CommandResult

__all__ = ["SHELLS", "CommandJob", "shell_line"]

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "busybox"})
"""Programs whose ``-c LINE`` is a shell line."""

_OPTION_WITH_VALUE = frozenset({"-o", "+o", "-O", "+O", "--rcfile", "--init-file"})
_CHANGES_DIR = frozenset({"cd", "pushd", "popd", "source", ".", "eval"})
_SEPARATORS = frozenset({"&&", "||", ";", ";;", "&", "|", "|&", "(", ")", "{", "}", "\n"})
_ENTERING = r"^\S*make(?:\[\d+\])?: Entering directory ['‘`](?P<dir>[^'’]+)['’]"

Runner = Callable[[list[str], Path], "CommandResult"]
"""Runs ``argv`` in a directory and returns its :class:`~tether.process.command.CommandResult`."""


def shell_line(argv: Sequence[str]) -> tuple[int, str] | None:
    """``(index, line)`` when ``argv`` is ``SHELL [options] -c LINE [name args...]``, else ``None``."""
    if not argv or os.path.basename(argv[0]) not in SHELLS:
        return None
    start = 2 if os.path.basename(argv[0]) == "busybox" and len(argv) > 1 else 1
    if start == 2 and argv[1] not in SHELLS:
        return None
    has_c = False
    i = start
    while i < len(argv):
        arg = argv[i]
        if arg in _OPTION_WITH_VALUE:
            i += 2
            continue
        if arg == "--":
            i += 1
            break
        if arg.startswith("--"):
            i += 1
            continue
        if len(arg) > 1 and arg[0] in "-+":
            has_c = has_c or (arg[0] == "-" and "c" in arg[1:])
            i += 1
            continue
        break
    if has_c and i < len(argv):
        return i, argv[i]
    return None


def _plan(line: str) -> tuple[str, str]:
    """How to learn where ``line`` failed: ``("static"|"report"|"unknown", reason)``."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|(){}")
        lexer.whitespace = " \t\r"  # newlines separate commands
        lexer.wordchars += "$`"
        tokens = list(lexer)
    except ValueError as exc:
        return "unknown", f"the shell line could not be parsed ({exc})"
    depth = 0
    at_command = True
    changes = False
    element_piped, element_changes = False, ""  # the current list element (between && || ; &)
    for token in [*tokens, ";"]:
        if token in ("&&", "||", ";", ";;", "&", "\n") and depth == 0:
            if element_piped and element_changes:
                return "unknown", f"`{element_changes}` runs inside a pipeline"
            element_piped, element_changes = False, ""
        if token in ("(", "{"):
            depth += 1
        elif token in (")", "}"):
            depth = max(0, depth - 1)
        if token in _SEPARATORS:
            at_command = True
            element_piped = element_piped or (token in ("|", "|&") and depth == 0)
            continue
        if at_command and token in _CHANGES_DIR:
            if depth > 0 or "`" in line:
                return "unknown", f"`{token}` runs inside a subshell or group"
            changes, element_changes = True, token
        at_command = False
    if not changes:
        return "static", ""
    return "report", ""


class CommandJob:
    """One command to run (and re-run), with what tether needs to know of its failures.

    Args:
        argv: the command and its arguments, as given (``["bash", "-c", "cd sub && make"]``).
        cwd: where to start it.
        runner: runs an argv in a directory; default: :func:`tether.process.command.run_command`
            streaming its output.

    Attributes:
        line: the shell line when ``argv`` is ``SHELL -c LINE``, else ``None``.
        command: what the context calls ``command``: the line as written, or the
            shell-quoted argv.
    """

    def __init__(
        self, argv: Sequence[str], cwd: str | os.PathLike[str], runner: Runner | None = None
    ) -> None:
        self.argv = list(argv)
        self.cwd = Path(cwd).absolute()
        self.runner = runner or _default_runner
        found = shell_line(self.argv)
        self.line: str | None = found[1] if found else None
        self._index = found[0] if found else -1
        self.command = self.line if self.line is not None else shlex.join(self.argv)
        self._how, self._why = _plan(self.line) if self.line is not None else ("static", "")
        self._where: dict[int, tuple[CommandResult, str | None, str]] = {}

    def __repr__(self) -> str:
        return f"CommandJob({self.command!r}, cwd={str(self.cwd)!r})"

    def run(self) -> CommandResult:
        """Run the command once through the runner; returns its result (``argv`` as the user's)."""
        argv, report = self.argv, None
        if self._how == "report":
            import tempfile

            fd, report = tempfile.mkstemp(prefix="tether-pwd-")
            os.close(fd)
            os.unlink(report)  # absent until the shell's EXIT trap writes it
            argv = list(self.argv)
            argv[self._index] = (
                f"trap 'printf %s \"$PWD\" > {shlex.quote(report)}' EXIT; {self.line}"
            )
        try:
            result = self.runner(argv, self.cwd)
        finally:
            reported = _read_report(report)
        result.argv = list(self.argv)
        step_dir, why = self._step_dir(result, reported)
        self._where[id(result)] = (result, step_dir, why)
        while len(self._where) > 8:
            del self._where[next(iter(self._where))]
        return result

    def _step_dir(self, result: CommandResult, reported: str | None) -> tuple[str | None, str]:
        if self._how == "unknown":
            return None, self._why
        base = self.cwd
        if self._how == "report":
            if reported is None:
                return None, "the shell line changed directory, and its exit did not report where"
            base = Path(reported)
        output = result.stdout + "\n" + result.stderr
        entered = {m.group("dir") for m in re.finditer(_ENTERING, output, re.M)}
        if len(entered) > 1:
            return None, "make entered several directories: " + ", ".join(sorted(entered))
        if entered:
            base = base / entered.pop()
        return str(base.resolve()), ""

    def context(self, result: CommandResult) -> dict[str, Any]:
        """The failure context of ``result`` (a run of this job).

        Keys: those of :meth:`CommandResult.context`, with ``command`` the line as written,
        ``argv`` (the whole argv, shell-quoted), ``run_cwd`` (where tether started it) and
        ``cwd`` (where the failing step ran), or, when that cannot be known, no ``cwd`` and
        ``cwd_unknown`` saying why.
        """
        facts = result.context()
        facts["command"] = self.command
        facts["argv"] = shlex.join(self.argv)
        facts["run_cwd"] = str(self.cwd)
        _, step_dir, why = self._where.get(id(result), (result, str(self.cwd), ""))
        if step_dir is None:
            facts.pop("cwd", None)
            facts["cwd_unknown"] = why
        else:
            facts["cwd"] = step_dir
        return facts


def _read_report(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            text = fh.read()
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return text if text.startswith("/") else None


def _default_runner(argv: list[str], cwd: Path) -> CommandResult:
    from tether.process.command import run_command

    return run_command(argv, cwd=cwd, stream=True)
