"""Starter actions for shell lines and build steps: redirects, ``source``, ``tar``, ``configure``, locks.

Like every starter action these check their preconditions first and raise,
changing nothing, when the fix does not apply; every change goes through the
injected :class:`~tether.actions.fix.FixContext`, so it stays inside the job's
directory and is rolled back when the re-run shows it did not fix the error.

Where the failure's text alone is ambiguous (bash prints ``x: No such file or
directory`` for ``> x``, ``< x`` and ``source x`` alike), the action reads the
command line as written (``ctx.context["command"]``), or the script's line that
failed, and acts only when it finds the write (or the ``source``) it expects.

:func:`report_merge_conflict` never changes anything: it recognises a file
with merge-conflict markers and raises :class:`MergeConflict`, whose message
(shown by ``tether run``) says what to do.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

from tether.actions.fix import FixContext
from tether.actions.registry import action
from tether.starter.actions.files import pid_alive, recorded_pid, templates_of

__all__ = [
    "MergeConflict",
    "conflict_marker",
    "copy_required_config",
    "create_tar_directory",
    "fix_shell_missing_path",
    "remove_stale_lock",
    "report_merge_conflict",
    "run_configure",
]

_REDIRECT = re.compile(r"(?:^|[^<>&0-9])[0-9]?(?:&>>?|>>?\|?)\s*('[^']*'|\"[^\"]*\"|[^\s;&|<>()]+)")
_SOURCE = re.compile(r"(?:^|[\s;&|(])(?:source|\.)\s+('[^']*'|\"[^\"]*\"|[^\s;&|<>()]+)")


def _unquote(word: str) -> str:
    return word[1:-1] if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"" else word


def _failing_line(script: str, line: str, ctx: FixContext) -> str:
    if not script:
        return str(ctx.context.get("command", ""))
    source = ctx.path(script)
    lines = source.read_text(errors="replace").splitlines()
    number = int(line)
    if not 1 <= number <= len(lines):
        raise ValueError(f"{script} has no line {line}")
    return lines[number - 1]


@action("fix_shell_missing_path")
def fix_shell_missing_path(path: str, ctx: FixContext, script: str = "", line: str = "1") -> str:
    """bash's ``PATH: No such file or directory``: make the redirect's directory, or the sourced config.

    The shell line that failed (the command as written, or line ``line`` of
    ``script``) decides: a redirect ``> PATH`` / ``>> PATH`` gets its missing
    directory made; ``source PATH`` / ``. PATH`` gets ``PATH`` copied from its
    template. A read (``< PATH``) or anything else is left alone.

    Args:
        path: the path bash named, as written in the line.
        ctx: the fix's journal (injected).
        script: the script bash was running (``""``: the command line itself).
        line: the script's line number bash reported (text, as captured).

    Raises:
        OutsideWorkspace: a path resolves outside the job's directory.
        LookupError: the line neither writes to nor sources ``path``.
        FileExistsError, FileNotFoundError: the directory exists, or there is no template.
    """
    text = _failing_line(script, line, ctx)
    if any(_unquote(m) == path for m in _REDIRECT.findall(text)):
        target = ctx.path(path)
        if target.parent.exists():
            raise FileExistsError(
                f"{ctx.relative(target.parent)} exists; the error has another cause"
            )
        ctx.create_dir(target.parent)
        return f"mkdir -p {ctx.relative(target.parent)}"
    if any(_unquote(m) == path for m in _SOURCE.findall(text)):
        target = ctx.path(path)
        templates = templates_of(target)
        if target.exists() or not templates:
            raise FileNotFoundError(f"{path} is sourced but has no template beside it")
        ctx.copy_file(templates[0], target)
        return f"copied {ctx.relative(templates[0])} to {ctx.relative(target)}"
    raise LookupError(f"the failing line neither writes to nor sources {path}: {text.strip()!r}")


_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")"}


def _tar_calls(command: str) -> list[list[str]]:
    try:
        words = shlex.split(command, posix=True)
    except ValueError:
        return []
    calls: list[list[str]] = []
    current: list[str] = []
    for word in [*words, ";"]:
        if word in _SEPARATORS:
            if current and os.path.basename(current[0]) in ("tar", "gtar"):
                calls.append(current[1:])
            current = []
        else:
            current.append(word)
    return calls


def _tar_parse(args: list[str]) -> tuple[str, list[str], list[str]]:
    """(mode letter, archives given to -f, directories given to -C) of one tar call."""
    mode = ""
    archives: list[str] = []
    dirs: list[str] = []
    words = list(args)
    if words and not words[0].startswith("-"):
        words[0] = "-" + words[0]  # old style: ``tar cf x.tar``
    long_modes = {"--create": "c", "--extract": "x", "--get": "x", "--list": "t", "--append": "r"}
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word.startswith("--"):
            name, eq, value = word.partition("=")
            if name in long_modes:
                mode = long_modes[name]
            elif name in ("--file", "--directory"):
                if not eq and i < len(words):
                    value, i = words[i], i + 1
                (archives if name == "--file" else dirs).append(value)
        elif word.startswith("-") and len(word) > 1:
            for pos, letter in enumerate(word[1:], start=1):
                if letter in "cxtruAd":
                    mode = letter
                elif letter in "fC":
                    rest = word[pos + 1 :]
                    if not rest and i < len(words):
                        rest, i = words[i], i + 1
                    (archives if letter == "f" else dirs).append(rest)
                    break
    return mode, archives, dirs


@action("create_tar_directory")
def create_tar_directory(path: str, ctx: FixContext) -> str:
    """tar's ``PATH: Cannot open``: make the directory of an archive being created, or an extract's ``-C``.

    The tar call in the command line as written decides: ``tar -cf dist/x.tar``
    gets ``dist`` made; ``tar -xf x.tar -C out`` gets ``out`` made. A missing
    archive being read (``-xf``, ``-tf``) or a missing ``-C`` of ``tar -c`` (the
    files to pack are missing) is left alone.

    Args:
        path: the path tar named.
        ctx: the fix's journal (injected); the directory is removed on rollback.

    Raises:
        OutsideWorkspace: the directory resolves outside the job's directory.
        LookupError: no tar call in the command writes to ``path``.
        FileExistsError: the directory exists.
    """
    for args in _tar_calls(str(ctx.context.get("command", ""))):
        mode, archives, dirs = _tar_parse(args)
        if mode == "c" and path in archives and path != "-":
            directory = ctx.path(path).parent
        elif mode == "x" and path in dirs:
            directory = ctx.path(path)
        else:
            continue
        if directory.exists():
            raise FileExistsError(f"{ctx.relative(directory)} exists; the error has another cause")
        ctx.create_dir(directory)
        return f"mkdir -p {ctx.relative(directory)}"
    raise LookupError(f"no tar call in the command creates {path} or extracts into it")


@action("copy_required_config")
def copy_required_config(path: str, origin: str, ctx: FixContext) -> str:
    """node's ``Cannot find module './config.json'``: copy the config from the template beside it.

    Args:
        path: the relative module path as required (``./config.json``); taken relative to the
            requiring file's directory.
        origin: the first entry of node's ``Require stack`` (the requiring file; for ``node -e``
            a pseudo-name, and then the job's directory is used).
        ctx: the fix's journal (injected); the copy is removed on rollback.

    Raises:
        OutsideWorkspace: the file resolves outside the job's directory.
        ValueError: ``path`` is not relative (``./`` or ``../``) or has no extension.
        FileExistsError, FileNotFoundError: the file exists, or no template sits beside it.
    """
    if not path.startswith(("./", "../")) or not Path(path).suffix:
        raise ValueError(f"{path} is not a relative file with an extension; not a config file")
    requiring = Path(origin)
    base = requiring.parent if requiring.is_absolute() and requiring.is_file() else ctx.cwd
    target = ctx.path(base / path)
    if target.exists():
        raise FileExistsError(f"{ctx.relative(target)} exists; the error has another cause")
    templates = templates_of(target)
    if not templates:
        raise FileNotFoundError(f"no template for {ctx.relative(target)} beside it")
    ctx.copy_file(templates[0], target)
    return f"copied {ctx.relative(templates[0])} to {ctx.relative(target)}"


_MAKEFILES = ("GNUmakefile", "makefile", "Makefile")


@action("run_configure")
def run_configure(ctx: FixContext, timeout_s: float = 600.0) -> str:
    """make found no makefile beside an executable ``configure``: run ``./configure``.

    Whatever ``configure`` makes among ``Makefile``, ``config.status``, ``config.log``
    (and ``config.h``) is removed on rollback; anything else it changed is listed
    as not reversible.

    Args:
        ctx: the fix's journal (injected).
        timeout_s: seconds ``configure`` may run.

    Raises:
        FileExistsError: a makefile exists (make failed for another reason).
        FileNotFoundError: there is no ``configure`` file.
        PermissionError: ``configure`` is not executable.
        RuntimeError: ``configure`` failed (its last lines are in the message), or made no Makefile.
    """
    here = ctx.path(".")
    present = [name for name in _MAKEFILES if (here / name).exists()]
    if present:
        raise FileExistsError(f"{present[0]} exists; make failed for another reason")
    script = ctx.path("configure")
    if not script.is_file():
        raise FileNotFoundError("no configure script in the job's directory")
    if not os.access(script, os.X_OK):
        raise PermissionError("configure is not executable")
    try:
        ctx.run(
            ["./configure"],
            timeout_s=timeout_s,
            creates=["Makefile", "config.status", "config.log", "config.h"],
        )
    except subprocess.CalledProcessError as exc:
        tail = "\n".join((exc.stderr or exc.stdout or "").strip().splitlines()[-5:])
        raise RuntimeError(f"./configure exited {exc.returncode}: {tail}") from None
    if not any((here / name).exists() for name in _MAKEFILES):
        raise RuntimeError("./configure ran but made no Makefile")
    return "ran ./configure"


_PID_NAMES = ("pid", "PID", "owner", "lock")


def _lock_pid(lock: Path) -> tuple[int, str] | None:
    """The pid a lock records and where: the file itself, or a small file inside the directory."""
    if lock.is_file():
        pid = recorded_pid(lock.read_text(errors="replace")[:4096])
        return (pid, lock.name) if pid is not None else None
    inside = sorted(p for p in lock.iterdir() if p.is_file() and not p.is_symlink())
    inside.sort(key=lambda p: (p.stem not in _PID_NAMES and p.suffix != ".pid", p.name))
    for item in inside[:4]:
        if item.stat().st_size <= 64:
            pid = recorded_pid(item.read_text(errors="replace"))
            if pid is not None:
                return pid, f"{lock.name}/{item.name}"
    return None


@action("remove_stale_lock")
def remove_stale_lock(path: str, ctx: FixContext) -> str:
    """Remove a lock (a ``mkdir`` lock directory, or a noclobber / ``.lock`` file) of a dead process.

    Only when the lock records a pid (the file's text, or a small file inside the
    directory such as ``pid``) and that process is gone; never by age alone.

    Args:
        path: the lock, relative to the job's directory.
        ctx: the fix's journal (injected); the lock (and what it held) comes back on rollback.

    Raises:
        OutsideWorkspace: ``path`` resolves outside the job's directory (a symlink out included).
        FileNotFoundError: the lock is gone.
        ValueError: the lock records no pid, or holds more than a lock does.
        RuntimeError: the recorded process is running.
    """
    lock = ctx.path(path)
    if not lock.exists():
        raise FileNotFoundError(f"{path} is already gone")
    if lock.is_dir() and len(list(lock.iterdir())) > 8:
        raise ValueError(f"{path} holds more than a lock directory does; not removing it")
    found = _lock_pid(lock)
    if found is None:
        raise ValueError(f"{path} records no process id; cannot tell whether it is stale")
    pid, where = found
    if pid <= 1 or pid_alive(pid):
        raise RuntimeError(f"process {pid} ({where}) is running; the lock is live")
    if lock.is_dir():
        ctx.remove_dir(lock)
    else:
        ctx.remove(lock)
    return f"removed {ctx.relative(lock)} of dead process {pid}"


class MergeConflict(RuntimeError):
    """A file holds merge-conflict markers: tether recognises it and leaves the resolution to a person.

    Attributes:
        path: the file (as the failure named it).
        line: the 1-based line of its first ``<<<<<<<`` marker.
    """

    def __init__(self, path: str, line: int) -> None:
        super().__init__(
            f"a file has merge conflict markers (<<<<<<< at {path}:{line}): resolve the conflict "
            "(git status lists the files), then re-run; tether does not resolve conflicts"
        )
        self.path = path
        self.line = line

    def __reduce__(self) -> tuple[type[MergeConflict], tuple[str, int]]:
        return (MergeConflict, (self.path, self.line))


def conflict_marker(text: str) -> int | None:
    """The 1-based line of the first ``<<<<<<<`` in ``text`` that a ``=======`` and a ``>>>>>>>`` follow."""
    opened: int | None = None
    middle = False
    for number, row in enumerate(text.splitlines(), start=1):
        if row.startswith("<<<<<<<") and opened is None:
            opened = number
        elif row.startswith("=======") and opened is not None:
            middle = True
        elif row.startswith(">>>>>>>") and middle and opened is not None:
            return opened
    return None


@action("report_merge_conflict")
def report_merge_conflict(path: str, ctx: FixContext) -> str:
    """Recognise merge-conflict markers in ``path`` and say what to do; never changes anything.

    Args:
        path: the file the parser failed on (relative to the job's directory, or absolute).
        ctx: the fix's context (injected; nothing is recorded).

    Raises:
        MergeConflict: always, when the file holds a conflict (``<<<<<<<``, ``=======``,
            ``>>>>>>>``); its message names the file and line and says what to do.
        OutsideWorkspace: ``path`` resolves outside the job's directory.
        ValueError: the file holds no conflict markers (the parse error has another cause).
    """
    target = ctx.path(path)
    with target.open("rb") as fh:
        text = fh.read(4 << 20).decode(errors="replace")
    line = conflict_marker(text)
    if line is None:
        raise ValueError(f"{path} holds no merge conflict markers; the error has another cause")
    raise MergeConflict(ctx.relative(target), line)
