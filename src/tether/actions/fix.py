"""``FixContext``: the journal an action makes its changes through, so a fix that did not work leaves nothing behind.

An action that declares a parameter named ``ctx`` gets a :class:`FixContext`
for the directory where the failing step ran. Every change it makes through
it is recorded with what is needed to undo it (a directory it created, the
old bytes and mode of a file it replaced, an environment variable's old
value ...). :meth:`FixContext.rollback` undoes them in reverse order; the
recovery loop calls it when a step fails halfway, on Ctrl-C during the fix,
and when the re-run shows the rule did not fix its error. What was rolled
back is recorded in the rule's observation.

All paths are taken relative to :attr:`FixContext.cwd` and may not leave it
(symlinks are followed before the check), so a captured ``../../etc/x`` or a
symlink pointing out of the job is refused with :class:`OutsideWorkspace`
before anything changes. The design follows a database's undo log: record
before you write, undo newest first.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["FixContext", "OutsideWorkspace"]


class OutsideWorkspace(PermissionError):
    """A path an action was given leaves the directory where the failing step ran."""


@dataclass
class _Undo:
    description: str
    undo: Callable[[], None]


class FixContext:
    """The directory a fix acts in, the failure it answers, and the journal of what it changed.

    Args:
        cwd: the directory where the failing step ran (made absolute and resolved).
        context: the failure context (``command``, ``argv``, ``exit_code``, ``stdout``,
            ``stderr``, ``cwd`` ...); exposed read-only.

    Every method that changes something records how to undo it first; see
    :meth:`rollback`. Methods raise :class:`OutsideWorkspace` for a path outside
    :attr:`cwd`, and the ``OSError`` of the failed operation otherwise (nothing
    is recorded for a change that did not happen).
    """

    def __init__(
        self, cwd: str | os.PathLike[str], context: Mapping[str, Any] | None = None
    ) -> None:
        self.cwd = Path(cwd).absolute().resolve()
        self.context: Mapping[str, Any] = MappingProxyType(dict(context or {}))
        self.changes: list[str] = []
        """What was changed, in order, as short human-readable lines."""
        self.irreversible: list[str] = []
        """Changes that a rollback cannot undo (what a command run through :meth:`run` did)."""
        self._undo: list[_Undo] = []

    def __repr__(self) -> str:
        return f"FixContext(cwd={str(self.cwd)!r}, changes={len(self.changes)})"

    # -- paths -----------------------------------------------------------------------------------

    def path(self, p: str | os.PathLike[str]) -> Path:
        """``p`` resolved against :attr:`cwd`, symlinks followed.

        Raises:
            OutsideWorkspace: the resolved path is not :attr:`cwd` or below it.
        """
        raw = Path(os.fspath(p)).expanduser()
        target = (raw if raw.is_absolute() else self.cwd / raw).resolve()
        if target != self.cwd and self.cwd not in target.parents:
            raise OutsideWorkspace(
                f"{os.fspath(p)} resolves to {target}, outside the job's directory {self.cwd}; "
                "not touching it"
            )
        return target

    def relative(self, p: str | os.PathLike[str]) -> str:
        """``p`` (inside :attr:`cwd`) as a path relative to it, for messages."""
        target = self.path(p)
        return os.path.relpath(target, self.cwd) if target != self.cwd else "."

    def _record(self, description: str, undo: Callable[[], None]) -> None:
        self.changes.append(description)
        self._undo.append(_Undo(description, undo))

    # -- changes ---------------------------------------------------------------------------------

    def create_dir(self, p: str | os.PathLike[str], *, parents: bool = True) -> Path:
        """Create directory ``p`` (and missing parents when ``parents``); each one made is recorded.

        Raises:
            FileExistsError: ``p`` exists.
        """
        target = self.path(p)
        if target.exists():
            raise FileExistsError(f"{self.relative(target)} exists")
        missing = []
        walk = target
        while not walk.exists():
            missing.append(walk)
            walk = walk.parent
        if len(missing) > 1 and not parents:
            raise FileNotFoundError(f"{self.relative(target.parent)} does not exist")
        for directory in reversed(missing):
            directory.mkdir()
            self._record(
                f"created directory {self.relative(directory)}", _bind(_remove_empty_dir, directory)
            )
        return target

    def write_file(
        self,
        p: str | os.PathLike[str],
        data: str | bytes,
        *,
        overwrite: bool = False,
        mode: int | None = None,
    ) -> Path:
        """Write ``data`` to ``p`` atomically (text as UTF-8); a replaced file's bytes and mode are kept.

        Args:
            p: the file, inside :attr:`cwd`; its directory must exist.
            data: the new content.
            overwrite: replace an existing file (else ``FileExistsError``).
            mode: permission bits of a new file (default: the umask's) or the replaced file's.
        """
        target = self.path(p)
        payload = data.encode() if isinstance(data, str) else data
        old: tuple[bytes, int] | None = None
        if target.exists() or target.is_symlink():
            if not overwrite:
                raise FileExistsError(f"{self.relative(target)} exists")
            if not target.is_file():
                raise IsADirectoryError(f"{self.relative(target)} is not a regular file")
            old = (target.read_bytes(), stat.S_IMODE(target.stat().st_mode))
        _atomic_write(target, payload, mode if mode is not None else (old[1] if old else None))
        name = self.relative(target)
        if old is None:
            self._record(f"created {name}", lambda: _unlink(target))
        else:
            content, old_mode = old
            self._record(f"rewrote {name}", lambda: _atomic_write(target, content, old_mode))
        return target

    def copy_file(
        self, src: str | os.PathLike[str], dst: str | os.PathLike[str], *, overwrite: bool = False
    ) -> Path:
        """Copy ``src`` to ``dst`` (both inside :attr:`cwd`), keeping ``src``'s permission bits."""
        source = self.path(src)
        if not source.is_file():
            raise FileNotFoundError(f"{self.relative(source)} is not a regular file")
        before = len(self.changes)
        target = self.write_file(
            dst, source.read_bytes(), overwrite=overwrite, mode=stat.S_IMODE(source.stat().st_mode)
        )
        self.changes[before] = f"copied {self.relative(source)} to {self.relative(target)}"
        self._undo[before].description = self.changes[before]
        return target

    def chmod(self, p: str | os.PathLike[str], mode: int) -> None:
        """Set ``p``'s permission bits to ``mode``; the old bits are recorded."""
        target = self.path(p)
        old = stat.S_IMODE(target.stat().st_mode)
        target.chmod(mode)
        self._record(
            f"chmod {mode:o} {self.relative(target)} (was {old:o})", lambda: target.chmod(old)
        )

    def remove(self, p: str | os.PathLike[str]) -> None:
        """Remove file ``p`` (a symlink: the link itself, wherever it points); it is restored on rollback."""
        raw = Path(os.fspath(p))
        link = (raw if raw.is_absolute() else self.cwd / raw).absolute()
        if link.is_symlink():
            self.path(link.parent)  # the link lives inside; its target does not matter
            pointed = os.readlink(link)
            link.unlink()
            self._record(
                f"removed link {os.path.relpath(link, self.cwd)}",
                lambda: os.symlink(pointed, link),
            )
            return
        target = self.path(p)
        if not target.is_file():
            raise IsADirectoryError(f"{self.relative(target)} is not a regular file")
        content, mode = target.read_bytes(), stat.S_IMODE(target.stat().st_mode)
        target.unlink()
        self._record(
            f"removed {self.relative(target)}", lambda: _atomic_write(target, content, mode)
        )

    def remove_dir(self, p: str | os.PathLike[str]) -> None:
        """Remove directory ``p`` and what it holds (regular files and directories only).

        Every file's bytes and mode are kept, so keep this for small trees (lock directories).

        Raises:
            ValueError: the tree holds something other than files and directories, or over 1 MiB.
        """
        target = self.path(p)
        if not target.is_dir() or target.is_symlink():
            raise NotADirectoryError(f"{self.relative(target)} is not a directory")
        files: list[tuple[Path, bytes, int]] = []
        dirs: list[tuple[Path, int]] = []
        size = 0
        for root, names, filenames in os.walk(target):
            here = Path(root)
            dirs.append((here, stat.S_IMODE(here.stat().st_mode)))
            for name in filenames + [n for n in names if (here / n).is_symlink()]:
                item = here / name
                if item.is_symlink() or not item.is_file():
                    raise ValueError(f"{self.relative(item)} is not a regular file; not removing")
                content = item.read_bytes()
                size += len(content)
                if size > 1 << 20:
                    raise ValueError(f"{self.relative(target)} holds over 1 MiB; not removing")
                files.append((item, content, stat.S_IMODE(item.stat().st_mode)))
        shutil.rmtree(target)

        def restore() -> None:
            for directory, mode in dirs:
                directory.mkdir(exist_ok=True)
                directory.chmod(mode)
            for item, content, mode in files:
                _atomic_write(item, content, mode)

        self._record(f"removed directory {self.relative(target)}", restore)

    def set_env(self, name: str, value: str | None) -> None:
        """Set (or with ``None`` unset) environment variable ``name`` for the re-runs; the old value is kept."""
        old = os.environ.get(name)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value

        def undo() -> None:
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old

        self._record(f"{name}={value}" if value is not None else f"unset {name}", undo)

    def run(
        self, argv: Sequence[str], *, timeout_s: float = 600.0, creates: Sequence[str] = ()
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in :attr:`cwd` (no shell), its output captured as text.

        Args:
            argv: the program and its arguments.
            timeout_s: seconds before the command is killed (``subprocess.TimeoutExpired``).
            creates: paths (inside :attr:`cwd`) the command makes; those that did not exist
                before are removed, whole trees, on rollback. Anything else the command
                changed cannot be undone and is listed in :attr:`irreversible`.

        Raises:
            subprocess.CalledProcessError: the command exited non-zero (its output is attached).
        """
        fresh = [self.path(c) for c in creates if not self.path(c).exists()]
        described = " ".join(argv)
        try:
            done = subprocess.run(
                list(argv),
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        finally:
            made = [p for p in fresh if p.exists() or p.is_symlink()]
            if made:
                names = ", ".join(self.relative(p) for p in made)
                self._record(f"ran {described} (made {names})", _bind(_remove_trees, made))
            else:
                self.changes.append(f"ran {described}")
            self.irreversible.append(f"whatever else {described} changed")
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, list(argv), done.stdout, done.stderr
            )
        return done

    def on_rollback(self, undo: Callable[[], None], description: str) -> None:
        """Register a custom undo step (run in reverse order with the others)."""
        self._record(description, undo)

    # -- rollback --------------------------------------------------------------------------------

    def rollback(self) -> list[str]:
        """Undo every recorded change, newest first; returns what was undone (and what failed).

        Never raises: an undo that fails is reported as ``"could not undo ...: error"``
        and the rest still run. After a rollback the journal is empty.
        """
        report = []
        while self._undo:
            step = self._undo.pop()
            try:
                step.undo()
                report.append(f"undid: {step.description}")
            except Exception as exc:  # an undo must not stop the others
                report.append(f"could not undo {step.description}: {type(exc).__name__}: {exc}")
        self.changes.clear()
        return report


def _atomic_write(target: Path, payload: bytes, mode: int | None) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tether")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        _unlink(Path(tmp))
        raise


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _remove_empty_dir(path: Path) -> None:
    if path.is_dir():
        path.rmdir()  # fails (and is reported) when something else was put inside


def _remove_trees(paths: list[Path]) -> None:
    for path in reversed(paths):
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)


def _bind(fn: Callable[[Any], None], arg: Any) -> Callable[[], None]:
    return lambda: fn(arg)
