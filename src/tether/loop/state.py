"""A governed run's saved state: a snapshot plus an append-only journal.

A run with ``state_path`` keeps two files::

    run.state            the snapshot: one JSON object, replaced atomically (temp file + rename)
    run.state.journal    one JSON record per step since the snapshot, appended and flushed

Each step (a model call, a finished iteration, a pause, the end) appends one
record holding only what changed: the totals that were overwritten and the
items that were added (the iteration's messages, its summary line, its action
fingerprints). Every :data:`SNAPSHOT_EVERY` records the snapshot is rewritten
and the journal emptied. The snapshot holds only what the next prompt can
use — the summaries shown, the iterations still verbatim, the recent reports —
so its size does not grow with the run, and neither does the cost of a step.

A ``kill -9`` at any moment leaves a loadable state: the snapshot is never
half-written (rename), a torn last journal line is ignored (that step had not
finished), and records already folded into the snapshot are skipped by their
sequence number. The price is at-least-once tool execution: a step killed
after its tools ran but before its record was written runs again on resume.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

from tether.errors import TetherError
from tether.store.files import atomic_write

__all__ = [
    "SNAPSHOT_EVERY",
    "STATE_VERSION",
    "ArtifactDriftError",
    "LoopState",
    "SchemaChangedError",
    "StateCorrupt",
    "StateError",
    "StateFile",
    "StateLocked",
    "StateVersionError",
]

STATE_VERSION = 2
"""The state format this tether writes; it reads this version and older ones.

Version 2 spells ``summarizer``/``summarized`` (version 1: ``summariser``/``summarised``).
"""

_RENAMED = {"summariser": "summarizer", "summarised": "summarized"}
"""Version 1 field names → today's."""

SNAPSHOT_EVERY = 64
"""Journal records between two snapshots."""

KEEP_SUMMARIES = 40
KEEP_REPORTS = 20
KEEP_SIGNALS = 50
KEEP_SEEN = 4096


class StateError(TetherError):
    """A saved loop state cannot be used. ``path`` names the file."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.path = str(path) if path is not None else None


class StateCorrupt(StateError):
    """The state file is not valid JSON, misses a field, or its journal is damaged mid-file."""


class StateVersionError(StateError):
    """The state was written by a newer tether (its ``version`` is above :data:`STATE_VERSION`)."""


class StateLocked(StateError):
    """Another process is running this state (its ``.lock`` is held)."""


class SchemaChangedError(StateError):
    """A tool's schema changed since the state was saved (``allow_schema_change=True`` to accept).

    Attributes:
        changed: names of the tools whose schema differs, was added, or was removed.
    """

    def __init__(
        self, message: str, path: str | os.PathLike[str] | None, changed: list[str]
    ) -> None:
        super().__init__(message, path)
        self.changed = changed


class ArtifactDriftError(StateError):
    """Stored summaries come from another summarizer (``allow_artifact_drift=True`` to reuse them).

    Attributes:
        stored: the summarizer version stamp in the state.
        current: the summarizer version stamp of the resuming loop.
    """

    def __init__(
        self, message: str, path: str | os.PathLike[str] | None, stored: str, current: str
    ) -> None:
        super().__init__(message, path)
        self.stored, self.current = stored, current


@dataclass
class LoopState:
    """Everything a run needs to continue where it stopped (all JSON-ready).

    Attributes:
        goal, pinned, model: what the run is and with which model.
        limits: the ceilings (``max_iterations``, ``token_limit``, ``wall_clock_s`` in seconds,
            ``cost_limit_usd``, ``max_tokens_per_call``, ``verbatim_iterations``).
        tool_schemas: a hash of each tool's definition, by name (to detect schema changes).
        summarizer: the version stamp of whatever wrote ``summaries``.
        iteration: iterations finished.
        usage: token totals (:class:`~tether.llm.types.Usage` fields); ``cost_usd`` in USD.
        elapsed_s: seconds the run has been running, over all its sessions.
        summaries: the last summary lines; ``summarized`` how many iterations were summarized.
        history: the unsummarized iterations' messages (``message_to_dict`` form).
        reports: the recent iteration reports; ``signals`` what evaluation noticed.
        seen: fingerprints of the actions taken (the last 4,096 distinct ones).
        progress: the evaluation's working values (previous metric, report awaiting its
            metric, notes for the next prompt, plan-invalid streak, last model text).
        policies: saved state of policies that have one, by position.
        pending_approval: the paused batch awaiting a decision (token, calls, messages ...).
        used_tokens: approval tokens already consumed by this run.
        status, reason: how the last session ended (empty while running).
        seq: the last journal record folded in.
    """

    goal: str
    model: str
    limits: dict[str, Any]
    tool_schemas: dict[str, str]
    summarizer: str
    pinned: list[str] = field(default_factory=list)
    version: int = STATE_VERSION
    iteration: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = 0.0
    elapsed_s: float = 0.0
    summaries: list[str] = field(default_factory=list)
    summarized: int = 0
    history: list[list[dict[str, Any]]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    progress: dict[str, Any] = field(default_factory=dict)
    policies: dict[str, Any] = field(default_factory=dict)
    pending_approval: dict[str, Any] | None = None
    used_tokens: list[str] = field(default_factory=list)
    status: str = ""
    reason: str = ""
    trace_path: str | None = None
    seq: int = 0

    #: Fields a journal record extends rather than replaces.
    APPENDED = ("summaries", "history", "reports", "signals", "seen", "used_tokens")

    @property
    def summariser(self) -> str:
        """Deprecated spelling of :attr:`summarizer`."""
        return self.summarizer

    @property
    def summarised(self) -> int:
        """Deprecated spelling of :attr:`summarized`."""
        return self.summarized

    def apply(self, record: dict[str, Any]) -> None:
        """Fold one journal record in: ``set`` replaces fields, ``add`` extends lists."""
        for name, value in record.get("set", {}).items():
            name = _RENAMED.get(name, name)
            if name in _FIELDS and name not in self.APPENDED:
                setattr(self, name, value)
        for name, items in record.get("add", {}).items():
            if name in self.APPENDED:
                getattr(self, name).extend(items)
        self.seq = int(record["seq"])
        self.bound()

    def bound(self) -> None:
        """Drop what no prompt can show any more, so the state's size stays flat."""
        del self.summaries[:-KEEP_SUMMARIES]
        del self.reports[:-KEEP_REPORTS]
        del self.signals[:-KEEP_SIGNALS]
        del self.seen[:-KEEP_SEEN]
        keep = max(0, self.iteration - self.summarized)
        if len(self.history) > keep:
            del self.history[: len(self.history) - keep]

    def to_json(self) -> str:
        """The snapshot text."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}  # no deep copy, unlike asdict
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path) -> LoopState:
        """Build from a snapshot's JSON object.

        Raises:
            StateVersionError: written by a newer tether.
            StateCorrupt: a required field is missing or has the wrong type.
        """
        version = data.get("version")
        if not isinstance(version, int):
            raise StateCorrupt(f"{path}: not a tether loop state (no 'version' field)", path)
        if version > STATE_VERSION:
            raise StateVersionError(
                f"{path}: state version {version} was written by a newer tether (this one reads up "
                f"to {STATE_VERSION}); upgrade tether to resume it",
                path,
            )
        data = {_RENAMED.get(k, k): v for k, v in data.items()}
        missing = [f.name for f in fields(cls) if f.name not in data and f.name in _REQUIRED]
        if missing:
            raise StateCorrupt(f"{path}: the state misses {', '.join(missing)}", path)
        known = {k: v for k, v in data.items() if k in _FIELDS}
        try:
            state = cls(**known)
        except TypeError as exc:
            raise StateCorrupt(f"{path}: {exc}", path) from None
        for name in cls.APPENDED:
            if not isinstance(getattr(state, name), list):
                raise StateCorrupt(f"{path}: field {name!r} must be a list", path)
        return state


_FIELDS = {f.name for f in fields(LoopState)}
_REQUIRED = {"goal", "model", "limits", "tool_schemas", "summarizer"}


class StateFile:
    """The snapshot and journal of one run (see the module docstring).

    Args:
        path: the snapshot file; the journal is ``<path>.journal``, the lock ``<path>.lock``.
        snapshot_every: journal records between snapshots.

    Raises:
        StateError: (from the methods) the files cannot be written, with the path and cause.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, snapshot_every: int = SNAPSHOT_EVERY
    ) -> None:
        self.path = Path(path)
        self.journal = self.path.with_name(self.path.name + ".journal")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.snapshot_every = snapshot_every
        self._fh: TextIO | None = None
        self._lock_fd: int | None = None
        self._since_snapshot = 0

    # -- reading -----------------------------------------------------------------------------------

    def load(self) -> LoopState:
        """The state as of the last complete step.

        Raises:
            StateError: the snapshot does not exist.
            StateCorrupt: the snapshot is not valid JSON or misses fields, or a journal line other
                than a torn last one is damaged (file and line named).
            StateVersionError: written by a newer tether.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise StateError(f"{self.path}: no saved loop state here", self.path) from None
        except OSError as exc:
            raise StateError(
                f"{self.path}: cannot read ({exc.strerror or exc})", self.path
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateCorrupt(
                f"{self.path}: the snapshot is not valid JSON ({exc.msg} at line {exc.lineno}); "
                "it may be truncated or edited",
                self.path,
            ) from None
        if not isinstance(data, dict):
            raise StateCorrupt(f"{self.path}: the snapshot must be a JSON object", self.path)
        state = LoopState.from_dict(data, self.path)
        for record in self._records():
            if record["seq"] > state.seq:
                state.apply(record)
        return state

    def _records(self) -> list[dict[str, Any]]:
        try:
            raw = self.journal.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StateError(
                f"{self.journal}: cannot read ({exc.strerror or exc})", self.journal
            ) from None
        lines = raw.split("\n")
        records = []
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            torn = number == len(lines)  # no newline after it: the write never finished
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
                    raise ValueError("not a journal record")
            except ValueError as exc:
                if torn:
                    break
                raise StateCorrupt(
                    f"{self.journal}:{number}: damaged journal record ({exc})", self.journal
                ) from None
            records.append(record)
        return records

    # -- writing -----------------------------------------------------------------------------------

    def lock(self) -> None:
        """Hold ``<path>.lock`` for this process (released by :meth:`close`).

        Raises:
            StateLocked: another process holds it.
        """
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(
                f"{self.lock_path}: cannot create ({exc.strerror or exc})", self.lock_path
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateLocked(
                f"{self.path}: another process is running this loop state; wait for it to end",
                self.path,
            ) from None
        self._lock_fd = fd

    def snapshot(self, state: LoopState) -> None:
        """Replace the snapshot with ``state`` atomically, then empty the journal."""
        state.bound()
        try:
            atomic_write(self.path, state.to_json())
        except OSError as exc:
            raise StateError(
                f"{self.path}: cannot save the loop state ({exc.strerror or exc})", self.path
            ) from None
        self._close_journal()
        with contextlib.suppress(FileNotFoundError):
            os.truncate(self.journal, 0)  # records up to state.seq are in the snapshot
        self._since_snapshot = 0

    def append(
        self, state: LoopState, changes: dict[str, Any], added: dict[str, list[Any]]
    ) -> None:
        """Record one step: ``changes`` replaced fields, ``added`` items appended to list fields.

        ``state`` is updated the same way, so the journal and the memory never disagree; every
        :attr:`snapshot_every` records the snapshot is rewritten instead.
        """
        record = {
            "seq": state.seq + 1,
            "set": changes,
            "add": {k: v for k, v in added.items() if v},
        }
        state.apply(record)
        self._since_snapshot += 1
        if self._since_snapshot >= self.snapshot_every:
            self.snapshot(state)
            return
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        try:
            if self._fh is None:
                self._fh = open(self.journal, "a", encoding="utf-8")  # noqa: SIM115  (kept open for the run)
            self._fh.write(line)
            self._fh.flush()
        except OSError as exc:
            raise StateError(
                f"{self.journal}: cannot append ({exc.strerror or exc})", self.journal
            ) from None

    def _close_journal(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None

    def close(self) -> None:
        """Close the journal and release the lock (idempotent)."""
        self._close_journal()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None
