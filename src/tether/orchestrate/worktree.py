"""Git worktrees for isolated runs: created from a recorded base, removed only when empty.

::

    from tether.orchestrate import Worktree

    trees = Worktree(home, on_kept=lambda record: print("kept", record.path))
    record = trees.create("path/to/repo", base="main", agent="fixer")   # base -> commit SHA
    workspace = trees.workspace(record)          # Workspace(record.path), toplevel checked
    ...                                          # a Loop over workspace.tools()
    record = trees.finish(record)                # removed if untouched, else kept + on_kept

Each worktree is on a new branch ``tether/<id>`` made from ``base``, resolved to a commit SHA
when it is created and recorded, so what the run started from is never in doubt. Trees live
in ``<home>/worktrees/<id>/``; when that folder is inside the repository, its path is added
to the repository's ``.git/info/exclude`` first, so the repository never sees it as
untracked work.

At the end (:meth:`Worktree.finish`) a tree with no uncommitted change and no commit is
removed with its branch; any other is **kept** (status ``kept``) and handed to ``on_kept``.
Kept trees are listed, diffed, merged or discarded later (``tether agent worktrees``). Work
is never force-deleted: removal uses ``git worktree remove`` without ``--force``, the
branch is deleted only while it still points at its base, and :meth:`Worktree.discard`
refuses a tree holding work unless told ``force=True``.

Records are one small JSON file per tree (``<home>/worktrees/<id>.json``, written
atomically) rather than store rows: a worktree is a directory on this machine, its record
sits beside it, survives a store reset and needs no schema step; git itself
(``git worktree list``) stays the authority on what exists.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from tether.errors import ConfigError

__all__ = ["Isolation", "Worktree", "WorktreeError", "WorktreeRecord", "WorktreeStatus"]

WorktreeStatus = Literal["active", "kept", "removed", "merged", "discarded"]
_BRANCH_PREFIX = "tether/"
_GIT_TIMEOUT_S = 120.0


class WorktreeError(ConfigError):
    """A worktree that cannot be made, checked, merged or removed (bad base, dirty repo ...)."""


@dataclass(frozen=True)
class WorktreeRecord:
    """One worktree made by tether.

    Attributes:
        id: its identifier (``<agent or run>-<8 hex>``); also the folder name.
        repo: the repository's top level (absolute).
        path: the worktree's folder (absolute).
        branch: its branch (``tether/<id>``).
        base: the base as asked for (``"HEAD"``, ``"main"``, a SHA).
        base_sha: the commit ``base`` resolved to when the tree was made.
        created_utc: ISO-8601 UTC time it was made.
        agent: the agent (or run) it was made for, if any.
        status: ``active`` (in use), ``kept`` (holds work), ``removed`` (was empty),
            ``merged`` or ``discarded``.
        dirty: it had uncommitted changes (untracked files included) when last checked.
        commits: commits on its branch since ``base_sha`` when last checked.
        reason: why it was kept (``"2 commits, uncommitted changes"``), else ``""``.
    """

    id: str
    repo: Path
    path: Path
    branch: str
    base: str
    base_sha: str
    created_utc: str
    agent: str | None = None
    status: WorktreeStatus = "active"
    dirty: bool = False
    commits: int = 0
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-able values (paths as strings)."""
        data = asdict(self)
        data["repo"], data["path"] = str(self.repo), str(self.path)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorktreeRecord:
        """The record from :meth:`to_json`'s output."""
        return cls(**{**data, "repo": Path(data["repo"]), "path": Path(data["path"])})


@dataclass
class Isolation:
    """A run's worktree while :meth:`Worktree.isolate` holds it.

    Attributes:
        record: the tree's record; after the ``with`` block, its final state (``removed`` or
            ``kept``).
        workspace: ``Workspace(record.path)``, its top level checked; build the run's tools
            from it (``workspace.tools()``).
    """

    record: WorktreeRecord
    workspace: Any


class Worktree:
    """Makes, checks and cleans up git worktrees, recording each under ``<home>/worktrees/``.

    Args:
        home: the tether home (records, and the trees unless ``root`` is given).
        root: where the trees go (default ``<home>/worktrees``).
        on_kept: called with the record of each tree :meth:`finish` keeps (wire it to the
            inbox); an exception it raises propagates, the record is saved first.
        git: the git executable.

    Thread- and process-safe: ``git worktree add/remove`` and record writes run under a file
    lock in ``root``, so parallel sub-agents (threads or processes) each get their own tree.
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        *,
        root: str | os.PathLike[str] | None = None,
        on_kept: Callable[[WorktreeRecord], None] | None = None,
        git: str = "git",
    ) -> None:
        self.records_dir = Path(home).absolute() / "worktrees"
        self.root = Path(root).absolute() if root is not None else self.records_dir
        self.on_kept = on_kept
        self.git = git

    # -- making ------------------------------------------------------------------------------------

    def create(
        self,
        repo: str | os.PathLike[str],
        *,
        base: str,
        agent: str | None = None,
        allow_dirty: bool = False,
    ) -> WorktreeRecord:
        """A new worktree of ``repo`` on a new branch from ``base``.

        Args:
            repo: a folder inside the repository.
            base: the commit-ish to start from (``"HEAD"``, a branch, a tag, a SHA); resolved
                to a SHA now and recorded.
            agent: who it is for (names the tree and the branch).
            allow_dirty: start from ``HEAD`` even when the checkout has uncommitted changes to
                tracked files (the tree would not see them).

        Raises:
            WorktreeError: ``repo`` is not in a git repository, ``base`` is not a commit in it,
                or ``base`` is the checkout's ``HEAD`` and the checkout has uncommitted
                changes (unless ``allow_dirty``).
        """
        top = self._toplevel(Path(repo))
        sha = self._resolve(top, base)
        if not allow_dirty and sha == self._resolve(top, "HEAD"):
            changed = self._run(top, "status", "--porcelain", "--untracked-files=no").splitlines()
            if changed:
                raise WorktreeError(
                    f"{top}: {len(changed)} tracked file(s) have uncommitted changes "
                    f"({changed[0].strip()}{', ...' if len(changed) > 1 else ''}); the worktree "
                    f"starts from {base} ({sha[:12]}) and would not see them: commit or stash "
                    "them first"
                )
        label = _label(agent or "run")
        with self._locked():
            self._exclude_if_inside(top)
            for _ in range(5):
                ident = f"{label}-{secrets.token_hex(4)}"
                path = self.root / ident
                if not path.exists() and not (self.records_dir / f"{ident}.json").exists():
                    break
            else:  # pragma: no cover - 2**32 names
                raise WorktreeError(f"{self.root}: no free worktree name for {label!r}")
            branch = _BRANCH_PREFIX + ident
            self.root.mkdir(parents=True, exist_ok=True)
            self._run(top, "worktree", "add", "--quiet", "-b", branch, str(path), sha)
            record = WorktreeRecord(
                id=ident,
                repo=top,
                path=path.resolve(),
                branch=branch,
                base=base,
                base_sha=sha,
                created_utc=_now(),
                agent=agent,
            )
            self._save(record)
        return record

    @contextlib.contextmanager
    def isolate(
        self,
        repo: str | os.PathLike[str],
        *,
        base: str,
        agent: str | None = None,
        allow_dirty: bool = False,
    ) -> Iterator[Isolation]:
        """A worktree for the ``with`` block, finished when it ends (also on an error)::

            with trees.isolate(cwd, base="HEAD") as iso:
                result = Loop(prompt, tools=iso.workspace.tools(), llm=model).run()
            iso.record.status        # "removed", or "kept" (and on_kept was called)

        Arguments and errors as :meth:`create` and :meth:`workspace`.
        """
        record = self.create(repo, base=base, agent=agent, allow_dirty=allow_dirty)
        isolation = Isolation(record, None)
        try:
            isolation.workspace = self.workspace(record)
            yield isolation
        finally:
            isolation.record = self.finish(record)

    def workspace(self, record: WorktreeRecord) -> Any:
        """``Workspace(record.path)``, after checking the folder is that worktree's top level.

        Call it right before the first tool runs: a tree deleted, moved or replaced since it
        was made is refused rather than letting tools act on whatever is there.

        Raises:
            WorktreeError: the folder is gone or its git top level is another folder.
        """
        from tether.tools.builtin import Workspace

        self.check(record)
        return Workspace(record.path)

    def check(self, record: WorktreeRecord) -> None:
        """Check ``git rev-parse --show-toplevel`` in the tree is the tree itself.

        Raises:
            WorktreeError: it is not (the folder is gone, or not that worktree).
        """
        if not record.path.is_dir():
            raise WorktreeError(f"worktree {record.id}: {record.path} is gone")
        top = self._toplevel(record.path)
        if top != record.path.resolve():
            raise WorktreeError(
                f"worktree {record.id}: {record.path} belongs to {top}, not to its own worktree; "
                "refusing to run tools there"
            )

    # -- ending ------------------------------------------------------------------------------------

    def finish(self, record: WorktreeRecord) -> WorktreeRecord:
        """End a run's use of the tree: remove it when it holds nothing, else keep it.

        Returns:
            The updated record: ``removed``, or ``kept`` with ``dirty``/``commits``/``reason``
            (``on_kept`` has been called with it).

        Raises:
            WorktreeError: git failed (the tree is then left as it is).
        """
        current = self.inspect(record)
        if not current.dirty and current.commits == 0:
            with self._locked():
                self._remove(current)
                current = replace(current, status="removed")
                self._save(current)
            return current
        current = replace(current, status="kept")
        with self._locked():
            self._save(current)
        if self.on_kept is not None:
            self.on_kept(current)
        return current

    def inspect(self, record: WorktreeRecord) -> WorktreeRecord:
        """``record`` with ``dirty``, ``commits`` and ``reason`` read from git now."""
        dirty = bool(self._run(record.path, "status", "--porcelain").strip())
        count = self._run(record.path, "rev-list", "--count", f"{record.base_sha}..HEAD")
        commits = int(count.strip() or 0)
        parts = [f"{commits} commit{'s' if commits != 1 else ''}"] if commits else []
        if dirty:
            parts.append("uncommitted changes")
        return replace(record, dirty=dirty, commits=commits, reason=", ".join(parts))

    # -- kept trees ----------------------------------------------------------------------------------

    def list(self, *, all: bool = False) -> list[WorktreeRecord]:
        """The recorded trees, oldest first: ``active`` and ``kept`` ones (every one with
        ``all``). A record whose file does not parse is skipped."""
        out: list[WorktreeRecord] = []
        if not self.records_dir.is_dir():
            return out
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                record = WorktreeRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError, KeyError):
                continue
            if all or record.status in ("active", "kept"):
                out.append(record)
        return sorted(out, key=lambda r: (r.created_utc, r.id))

    def get(self, ident: str) -> WorktreeRecord:
        """The record called ``ident`` (an id, or a unique prefix of one).

        Raises:
            WorktreeError: none, or the prefix matches several.
        """
        records = self.list(all=True)
        exact = [r for r in records if r.id == ident]
        found = exact or [r for r in records if r.id.startswith(ident)] if ident else []
        if len(found) == 1:
            return found[0]
        if not found:
            known = ", ".join(r.id for r in records if r.status in ("active", "kept")) or "none"
            raise WorktreeError(f"no worktree {ident!r} (kept or active: {known})")
        raise WorktreeError(
            f"{ident!r} matches {len(found)} worktrees ({', '.join(r.id for r in found)}); "
            "give more of the id"
        )

    def diff(self, record: WorktreeRecord) -> str:
        """The tree's changes against its base: commits and uncommitted edits to tracked files
        as one unified diff, then a ``# untracked: PATH`` line per new file."""
        text = self._run(record.path, "diff", record.base_sha)
        untracked = self._run(record.path, "ls-files", "--others", "--exclude-standard")
        lines = [f"# untracked: {p}" for p in untracked.splitlines() if p]
        return text + ("\n".join(lines) + "\n" if lines else "")

    def merge(self, record: WorktreeRecord) -> WorktreeRecord:
        """Merge what the tree has checked out (its branch, or the branch the run switched to)
        into the repository's checked-out branch, then remove the tree and its merged branch.

        Raises:
            WorktreeError: the tree has uncommitted changes (commit them first), the
                checkout has uncommitted changes to tracked files, or the merge conflicts
                (it is aborted; nothing changed).
        """
        current = self.inspect(record)
        if current.dirty:
            raise WorktreeError(
                f"worktree {record.id}: {record.path} has uncommitted changes; commit them there "
                "first (only commits are merged)"
            )
        if self._run(record.repo, "status", "--porcelain", "--untracked-files=no").strip():
            raise WorktreeError(
                f"{record.repo}: the checkout has uncommitted changes; commit or stash them "
                f"before merging {record.branch}"
            )
        if current.commits:
            head = self._run(record.path, "symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1))
            source = head.strip() or self._run(record.path, "rev-parse", "HEAD").strip()
            try:
                self._run(record.repo, "merge", "--no-edit", source)
            except WorktreeError as exc:
                with contextlib.suppress(WorktreeError):
                    self._run(record.repo, "merge", "--abort")
                raise WorktreeError(
                    f"merging {record.branch} into {record.repo} failed and was aborted: {exc}"
                ) from None
        with self._locked():
            self._run(record.repo, "worktree", "remove", str(record.path))
            if self._branch_exists(record):
                self._run(record.repo, "branch", "-d", record.branch)
            merged = replace(current, status="merged")
            self._save(merged)
        return merged

    def discard(self, record: WorktreeRecord, *, force: bool = False) -> WorktreeRecord:
        """Remove the tree and its branch.

        Args:
            force: throw away what it holds (commits not merged, uncommitted changes);
                without it a tree holding work is refused.

        Raises:
            WorktreeError: it holds work and ``force`` is not set, or git failed.
        """
        current = self.inspect(record) if record.path.is_dir() else record
        if (current.dirty or current.commits) and not force:
            raise WorktreeError(
                f"worktree {record.id} holds {current.reason}; merge it, or discard with "
                "--force to throw that away"
            )
        with self._locked():
            if record.path.is_dir():
                args = ("worktree", "remove", *(("--force",) if force else ()), str(record.path))
                self._run(record.repo, *args)
            else:
                self._run(record.repo, "worktree", "prune")
            if self._branch_exists(record):
                self._run(record.repo, "branch", "-D" if force else "-d", record.branch)
            discarded = replace(current, status="discarded")
            self._save(discarded)
        return discarded

    # -- internals -----------------------------------------------------------------------------------

    def _remove(self, record: WorktreeRecord) -> None:
        """Remove an empty tree; its branch only while it still points at the base."""
        self._run(record.repo, "worktree", "remove", str(record.path))
        self._run(record.repo, "update-ref", "-d", f"refs/heads/{record.branch}", record.base_sha)

    def _branch_exists(self, record: WorktreeRecord) -> bool:
        try:
            self._run(
                record.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{record.branch}"
            )
        except WorktreeError:
            return False
        return True

    def _toplevel(self, where: Path) -> Path:
        if not where.is_dir():
            raise WorktreeError(f"{where}: not a directory")
        try:
            return Path(self._run(where, "rev-parse", "--show-toplevel").strip()).resolve()
        except WorktreeError:
            raise WorktreeError(f"{where}: not inside a git repository") from None

    def _resolve(self, top: Path, base: str) -> str:
        if not base or base.startswith("-"):
            raise WorktreeError(f"{base!r} is not a commit (give a branch, tag or SHA)")
        try:
            return self._run(top, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").strip()
        except WorktreeError:
            raise WorktreeError(
                f"{top}: base {base!r} does not exist (no such branch, tag or commit)"
            ) from None

    def _exclude_if_inside(self, top: Path) -> None:
        """Add ``root`` to the repository's ``info/exclude`` when it lies inside ``top``."""
        root = self.root.resolve() if self.root.exists() else self.root
        try:
            inside = root.relative_to(top)
        except ValueError:
            return
        common = Path(self._run(top, "rev-parse", "--git-common-dir").strip())
        exclude = (common if common.is_absolute() else top / common) / "info" / "exclude"
        line = f"/{inside.as_posix()}/"
        existing = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
        if line not in existing.splitlines():
            exclude.parent.mkdir(parents=True, exist_ok=True)
            sep = "" if not existing or existing.endswith("\n") else "\n"
            with exclude.open("a", encoding="utf-8") as handle:
                handle.write(f"{sep}# tether worktrees\n{line}\n")

    def _save(self, record: WorktreeRecord) -> None:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        target = self.records_dir / f"{record.id}.json"
        temp = target.with_suffix(f".json.{os.getpid()}.tmp")
        temp.write_text(json.dumps(record.to_json(), indent=2) + "\n", encoding="utf-8")
        os.replace(temp, target)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.records_dir.mkdir(parents=True, exist_ok=True)
        with (self.records_dir / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _run(self, where: Path, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        try:
            done = subprocess.run(
                [self.git, "-C", str(where), *args],
                capture_output=True,
                text=True,
                timeout=_GIT_TIMEOUT_S,
                check=False,
                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise WorktreeError(f"git {args[0]} in {where} could not run: {exc}") from None
        if done.returncode not in ok:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise WorktreeError(
                f"git {' '.join(args[:2])} in {where} failed: {detail[-1] if detail else done.returncode}"
            )
        return done.stdout


def _label(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in text.lower()).strip("-_")
    return (cleaned or "run")[:40]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
