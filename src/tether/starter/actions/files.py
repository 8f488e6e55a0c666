"""Actions of the starter rule pack for files in the job's tree: +x, parent directories, templates, locks.

Each action checks that its fix applies before changing anything, and raises
(so the rule counts as failed and the next one is tried) when it does not:
a "Permission denied" on ``/etc/passwd`` is not a script missing its execute
bit. Every change goes through the :class:`~tether.actions.fix.FixContext`
``ctx`` the recovery hands in, so paths are resolved against the directory
where the failing step ran, refused (:class:`~tether.actions.fix.OutsideWorkspace`)
when they leave it, symlinks followed, and a fix that did not fix is rolled
back. The two git actions of rules tagged ``changes-environment`` (off unless
allowed) change configuration, not the tree.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from tether.actions.fix import FixContext, OutsideWorkspace
from tether.actions.registry import action

__all__ = [
    "TEMPLATE_SUFFIXES",
    "copy_config_template",
    "create_parent_directory",
    "git_safe_directory",
    "make_executable",
    "pid_alive",
    "recorded_pid",
    "remove_stale_git_lock",
    "remove_stale_pidfile",
    "set_git_identity",
    "templates_of",
]

TEMPLATE_SUFFIXES = (".example", ".sample", ".dist", ".template", ".tmpl", ".default")
"""Suffixes of a config file's template kept beside it (``config.ini.example``, ``config.example.ini``)."""


@action("make_executable")
def make_executable(path: str, ctx: FixContext) -> str:
    """Add the execute bit to a script (``#!``) or ELF program in the job's tree that lacks it.

    Args:
        path: the program as the failure named it (relative to the job's directory, or absolute).
        ctx: the fix's journal (injected).

    Raises:
        OutsideWorkspace: ``path`` resolves outside the job's directory.
        FileNotFoundError: it is not a regular file.
        PermissionError: it is executable already (the denial has another cause).
        ValueError: it is neither a ``#!`` script nor an ELF program.
    """
    target = ctx.path(path)
    if not target.is_file():
        raise FileNotFoundError(f"{path} is not a regular file")
    mode = stat.S_IMODE(target.stat().st_mode)
    if mode & stat.S_IXUSR:
        raise PermissionError(f"{path} is already executable; the denial has another cause")
    with target.open("rb") as fh:
        head = fh.read(4)
    if not (head.startswith(b"#!") or head == b"\x7fELF"):
        raise ValueError(f"{path} has no #! line and is no ELF program; not making it executable")
    added = stat.S_IXUSR | (stat.S_IXGRP if mode & stat.S_IRGRP else 0)
    added |= stat.S_IXOTH if mode & stat.S_IROTH else 0
    ctx.chmod(target, mode | added)
    return f"chmod +x {ctx.relative(target)}"


def templates_of(target: Path) -> list[Path]:
    """Templates of config file ``target`` that exist beside it, in :data:`TEMPLATE_SUFFIXES` order.

    Both spellings: ``config.ini.example`` and ``config.example.ini``.
    """
    found = [target.with_name(target.name + s) for s in TEMPLATE_SUFFIXES]
    if target.suffix:
        found += [target.with_name(f"{target.stem}{s}{target.suffix}") for s in TEMPLATE_SUFFIXES]
    return [p for p in found if p.is_file()]


@action("copy_config_template")
def copy_config_template(path: str, ctx: FixContext) -> str:
    """Create a missing config file from the template beside it (``.example``, ``.sample``, ``.dist`` ...).

    Args:
        path: the missing file, relative to the job's directory.
        ctx: the fix's journal (injected); the copy is removed on rollback.

    Raises:
        OutsideWorkspace: ``path`` (or its template) resolves outside the job's directory.
        FileExistsError: the file exists (the error has another cause).
        FileNotFoundError: no template sits beside it.
    """
    target = ctx.path(path)
    if target.exists():
        raise FileExistsError(f"{path} exists; the error has another cause")
    templates = templates_of(target)
    if not templates:
        names = ", ".join(target.name + s for s in TEMPLATE_SUFFIXES[:3])
        raise FileNotFoundError(f"no template for {path} ({names} ...) beside it")
    ctx.copy_file(templates[0], target)
    return f"copied {ctx.relative(templates[0])} to {ctx.relative(target)}"


@action("create_parent_directory")
def create_parent_directory(path: str, ctx: FixContext) -> str:
    """Create the missing directory a program wanted to write ``path`` into.

    Args:
        path: the file the program could not create (relative to the job's directory or
            absolute); a symlink inside the tree is followed to its target.
        ctx: the fix's journal (injected); each directory made is removed on rollback.

    Raises:
        OutsideWorkspace: the file's directory lies outside the job's directory.
        FileExistsError: the directory exists (the error has another cause).
    """
    target = ctx.path(path)
    parent = target.parent
    if parent.exists():
        raise FileExistsError(f"{ctx.relative(parent)} exists; the error has another cause")
    ctx.create_dir(parent)
    return f"mkdir -p {ctx.relative(parent)}"


def _git_processes_in(repo: Path) -> list[int]:
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "git":
                continue
            cwd = (entry / "cwd").resolve()
        except OSError:
            continue
        if cwd == repo or repo in cwd.parents:
            pids.append(int(entry.name))
    return pids


@action("remove_stale_git_lock")
def remove_stale_git_lock(path: str, ctx: FixContext) -> str:
    """Remove a git ``*.lock`` file left by a git process that is gone.

    The lock must belong to the repository the job ran in: inside the job's
    directory, or in the ``.git`` of a repository that holds the job's directory
    (a job in ``repo/sub``). A lock of any other repository is refused, whatever
    the failure's text says.

    Args:
        path: the lock file as git named it (absolute, or relative to the job's directory).
        ctx: the fix's journal (injected); the lock's bytes come back on rollback.

    Raises:
        OutsideWorkspace: the lock belongs to another repository.
        ValueError: it is not a ``.lock`` file inside a ``.git`` directory.
        FileNotFoundError: it is already gone.
        RuntimeError: a git process is running in that repository (the lock is live).
    """
    raw = Path(path)
    lock = (raw if raw.is_absolute() else ctx.cwd / raw).resolve()
    if lock.suffix != ".lock" or ".git" not in lock.parts:
        raise ValueError(f"{path} is not a lock file inside a .git directory")
    git_dir = Path(*lock.parts[: lock.parts.index(".git") + 1])
    repo = git_dir.parent
    if not (repo == ctx.cwd or repo in ctx.cwd.parents or ctx.cwd in repo.parents):
        raise OutsideWorkspace(
            f"{lock} belongs to the repository {repo}, which neither holds nor lies inside "
            f"the job's directory {ctx.cwd}; not touching another repository's lock"
        )
    if not lock.is_file():
        raise FileNotFoundError(f"{lock} is already gone")
    busy = _git_processes_in(repo)
    if busy:
        raise RuntimeError(f"git is running in {repo} (pid {busy[0]}); the lock is live")
    if ctx.cwd == lock or ctx.cwd in lock.parents:
        ctx.remove(lock)
    else:  # the job ran in a subdirectory: the lock is in the .git above it
        content, mode = lock.read_bytes(), stat.S_IMODE(lock.stat().st_mode)
        lock.unlink()
        ctx.on_rollback(lambda: _restore(lock, content, mode), f"removed {lock}")
    return f"removed stale {lock.name}"


def _restore(path: Path, content: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)


def pid_alive(pid: int) -> bool:
    """True when process ``pid`` exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded_pid(text: str) -> int | None:
    """The first number in a pid/lock file's text (``"4242\\n"``, ``"pid=4242"``), or ``None``."""
    digits = "".join(ch if ch.isdigit() else " " for ch in text).split()
    return int(digits[0]) if digits else None


@action("remove_stale_pidfile")
def remove_stale_pidfile(path: str, ctx: FixContext) -> str:
    """Remove a pid/lock file whose recorded process no longer exists.

    Args:
        path: the file, relative to the job's directory.
        ctx: the fix's journal (injected); the file comes back on rollback.

    Raises:
        OutsideWorkspace: ``path`` resolves outside the job's directory.
        FileNotFoundError: it is already gone.
        ValueError: it records no process id (whether it is stale cannot be told).
        RuntimeError: the recorded process is running.
    """
    target = ctx.path(path)
    if not target.is_file():
        raise FileNotFoundError(f"{path} is already gone (or is not a file)")
    pid = recorded_pid(target.read_text(errors="replace"))
    if pid is None:
        raise ValueError(f"{path} holds no process id; cannot tell whether it is stale")
    if pid <= 1 or pid_alive(pid):
        raise RuntimeError(f"process {pid} from {path} is running; the file is not stale")
    ctx.remove(target)
    return f"removed {ctx.relative(target)} of dead process {pid}"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, timeout=60, check=False)


@action("set_git_identity")
def set_git_identity(name: str = "tether", email: str = "tether@localhost") -> str:
    """Set ``user.name``/``user.email`` in the repository's own config where they are unset."""
    done = []
    for key, value in (("user.name", name), ("user.email", email)):
        current = _git("config", "--get", key)
        # an empty value ("empty ident name ... not allowed") is as good as unset
        if current.returncode != 0 or not current.stdout.strip():
            result = _git("config", "--local", key, value)
            if result.returncode != 0:
                raise RuntimeError(f"git config {key} failed: {result.stderr.strip()}")
            done.append(f"{key}={value}")
    if not done:
        raise RuntimeError("user.name and user.email are already set; the error has another cause")
    return "set " + ", ".join(done)


@action("git_safe_directory")
def git_safe_directory(path: str) -> str:
    """Trust a repository owned by another user (``git config --global --add safe.directory``)."""
    listed = _git("config", "--global", "--get-all", "safe.directory")
    trusted = listed.stdout.splitlines() if listed.returncode == 0 else []
    if path in trusted or "*" in trusted:
        raise RuntimeError(f"{path} is already a safe.directory; the error has another cause")
    result = _git("config", "--global", "--add", "safe.directory", path)
    if result.returncode != 0:
        raise RuntimeError(f"git config failed: {result.stderr.strip()}")
    return f"safe.directory += {path}"
