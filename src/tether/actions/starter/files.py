"""Actions of the starter rule pack (``tether/rules/starter/``).

Each action checks that its fix applies before changing anything, and raises
(so the rule counts as failed and the next one is tried) when it does not:
a "Permission denied" on ``/etc/passwd`` is not a script missing its execute
bit. Paths are resolved against the working directory (the job's ``cwd``),
and the fixes that touch files stay inside it, except the two actions of
rules tagged ``changes-environment`` (off unless allowed).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from tether.actions.registry import action

__all__ = [
    "add_src_to_pythonpath",
    "copy_config_template",
    "create_parent_directory",
    "git_safe_directory",
    "make_executable",
    "remove_stale_git_lock",
    "remove_stale_pidfile",
    "set_git_identity",
]

TEMPLATE_SUFFIXES = (".example", ".sample", ".dist", ".template", ".tmpl", ".default")
"""Suffixes of a config file's template kept beside it (``config.ini.example``)."""


def _inside_cwd(path: str) -> Path:
    here = Path.cwd().resolve()
    target = (here / path).resolve() if not os.path.isabs(path) else Path(path).resolve()
    if target != here and here not in target.parents:
        raise PermissionError(f"{target} is outside the working directory {here}; not touching it")
    return target


@action("make_executable")
def make_executable(path: str) -> str:
    """Add the execute bit to a script or program in the working tree that lacks it."""
    target = _inside_cwd(path)
    if not target.is_file():
        raise FileNotFoundError(f"{target} is not a regular file")
    mode = target.stat().st_mode
    if mode & stat.S_IXUSR:
        raise PermissionError(f"{target} is already executable; the denial has another cause")
    with target.open("rb") as fh:
        head = fh.read(4)
    if not (head.startswith(b"#!") or head == b"\x7fELF"):
        raise ValueError(f"{target} has no #! line and is no ELF program; not making it executable")
    added = stat.S_IXUSR | (stat.S_IXGRP if mode & stat.S_IRGRP else 0)
    added |= stat.S_IXOTH if mode & stat.S_IROTH else 0
    target.chmod(mode | added)
    return f"chmod +x {path}"


def _templates(target: Path) -> list[Path]:
    found = [target.with_name(target.name + s) for s in TEMPLATE_SUFFIXES]
    if target.suffix:
        found += [target.with_name(f"{target.stem}{s}{target.suffix}") for s in TEMPLATE_SUFFIXES]
    return [p for p in found if p.is_file()]


@action("copy_config_template")
def copy_config_template(path: str) -> str:
    """Create a missing config file from the template beside it (``.example``, ``.sample``, ``.dist`` ...)."""
    target = _inside_cwd(path)
    if target.exists():
        raise FileExistsError(f"{target} exists; the error has another cause")
    templates = _templates(target)
    if not templates:
        names = ", ".join(target.name + s for s in TEMPLATE_SUFFIXES[:3])
        raise FileNotFoundError(f"no template for {target.name} ({names} ...) beside it")
    shutil.copyfile(templates[0], target)
    return f"copied {templates[0].name} to {target.name}"


@action("create_parent_directory")
def create_parent_directory(path: str) -> str:
    """Create the missing directory a program wanted to write ``path`` into."""
    target = _inside_cwd(path)
    parent = target.parent
    if parent.exists():
        raise FileExistsError(f"{parent} exists; the error has another cause")
    parent.mkdir(parents=True)
    return f"mkdir -p {os.path.relpath(parent)}"


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
def remove_stale_git_lock(path: str) -> str:
    """Remove a git ``*.lock`` file left by a git process that is gone."""
    lock = Path(path)
    if not lock.is_absolute():
        lock = Path.cwd() / lock
    lock = lock.resolve()
    if lock.suffix != ".lock" or ".git" not in lock.parts:
        raise ValueError(f"{lock} is not a lock file inside a .git directory")
    if not lock.exists():
        raise FileNotFoundError(f"{lock} is already gone")
    git_dir = Path(*lock.parts[: lock.parts.index(".git") + 1])
    busy = _git_processes_in(git_dir.parent)
    if busy:
        raise RuntimeError(f"git is running in {git_dir.parent} (pid {busy[0]}); the lock is live")
    lock.unlink()
    return f"removed stale {lock.name}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@action("remove_stale_pidfile")
def remove_stale_pidfile(path: str) -> str:
    """Remove a pid/lock file whose recorded process no longer exists."""
    target = _inside_cwd(path)
    try:
        text = target.read_text(errors="replace")
    except FileNotFoundError:
        raise FileNotFoundError(f"{target} is already gone") from None
    digits = "".join(ch if ch.isdigit() else " " for ch in text).split()
    if not digits:
        raise ValueError(f"{target} holds no process id; cannot tell whether it is stale")
    pid = int(digits[0])
    if pid <= 0 or _alive(pid):
        raise RuntimeError(f"process {pid} from {target.name} is running; the file is not stale")
    target.unlink()
    return f"removed {target.name} of dead process {pid}"


@action("add_src_to_pythonpath")
def add_src_to_pythonpath(module: str) -> str:
    """Make a package in ``./src`` importable: prepend ``src`` to ``PYTHONPATH`` for the re-run.

    Changes this process's environment (inherited by re-runs) and ``sys.path``;
    nothing on disk.
    """
    src = Path.cwd() / "src"
    if not ((src / module).is_dir() or (src / f"{module}.py").is_file()):
        raise ModuleNotFoundError(f"no {module} package or module in {src}")
    entries = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(src) in entries:
        raise RuntimeError(f"{src} is already on PYTHONPATH; the import fails for another reason")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(src), *entries])
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    return f"PYTHONPATH={src}"


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
