"""Where tether keeps records: one small interface, an embedded SQLite implementation.

:class:`Store` is the whole contract the rest of tether uses, so a shared
backend (PostgreSQL with the same schema, for a fleet of runners) is a new
implementation of this Protocol, not a rewrite.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["RuleStats", "Store", "open_store", "store_url"]


@dataclass(frozen=True)
class RuleStats:
    """How a rule has fared: times tried (``hits``), verified fixes, failures, last use (UTC ISO)."""

    rule: str
    hits: int
    successes: int
    failures: int
    last_outcome: str | None
    last_used_utc: str | None


class Store(Protocol):
    """The records tether keeps across runs and processes."""

    def record_outcome(self, rule: str, outcome: str) -> None:
        """Count one application of ``rule`` with ``outcome`` ``"success"`` or ``"failure"``."""
        ...

    def rule_stats(self) -> list[RuleStats]:
        """Statistics of every rule ever applied, most used first."""
        ...

    def get_many(self, paths: Iterable[str]) -> dict[str, tuple[int, int, list[dict[str, Any]]]]:
        """Cached parsed rule files by key (``tether.rules.load.cache_key(path)``); the data is
        opaque, written only by ``tether.rules.load.load_dir``."""
        ...

    def put_many(self, rows: Iterable[tuple[str, int, int, list[dict[str, Any]]]]) -> None:
        """Cache parsed rule files (keys and data as :meth:`get_many` returns them)."""
        ...

    def prune_rule_cache(self, folders: Iterable[str], keep: Iterable[str]) -> int:
        """Drop the cached rows of files directly in one of ``folders`` whose key is not in
        ``keep`` (deleted or renamed rule files); returns how many rows went."""
        ...

    def save_regulator_state(self, user_id: str, state_json: str) -> None:
        """Keep ``user_id``'s learned regulator state (a JSON document), replacing the last one."""
        ...

    def load_regulator_state(self, user_id: str) -> str | None:
        """The learned regulator state saved for ``user_id``, or ``None``."""
        ...

    def add_approval(
        self,
        token: str,
        state_path: str,
        request: dict[str, Any],
        created_s: float,
        expires_s: float,
    ) -> None:
        """Record a pending approval ``token`` for the run saved at ``state_path``; ``request`` is
        a JSON-able dict; times are Unix seconds."""
        ...

    def get_approval(self, token: str) -> dict[str, Any] | None:
        """The approval for ``token`` (keys ``token``, ``state_path``, ``request``, ``status``,
        ``created_s``, ``expires_s``, ``decided_s``, ``note``), or ``None`` when unknown."""
        ...

    def pending_approvals(self) -> list[dict[str, Any]]:
        """Every approval still pending (as :meth:`get_approval` gives them), oldest first."""
        ...

    def set_approval_status(
        self,
        token: str,
        status: str,
        *,
        when: tuple[str, ...] = ("pending",),
        note: str = "",
        now_s: float,
    ) -> bool:
        """Move ``token`` to ``status`` (decide or expire it) only if its status is one of
        ``when``; True if it moved. Single use: check and change are one step, so of two
        deciders exactly one wins."""
        ...

    def open(self) -> None:
        """Connect now rather than on first use; raises ``StoreError`` when it cannot."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...

    # -- agent task memory (SQL in tether.store.tasks) --------------------------------------------

    def record_task_run(self, run: dict[str, Any], title: str) -> None:
        """Append one agent run (``task_runs`` columns) and update its task, atomically."""
        ...

    def list_tasks(self, task_key: str | None = None) -> list[dict[str, Any]]:
        """Every task (or ``task_key``'s), most recently run first."""
        ...

    def list_task_runs(self, task_key: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest ``limit`` runs of ``task_key``, newest first."""
        ...

    def delete_tasks(self, task_key: str | None = None) -> int:
        """Forget every task (or ``task_key``) and its runs; returns how many tasks went."""
        ...


def store_url(home: str | os.PathLike[str] | None = None) -> str:
    """The URL of the store for ``home`` (resolved as :func:`tether.home.resolve_home` does):
    ``sqlite:///<absolute home>/tether.db``. Backend-neutral: :func:`open_store` reads it."""
    from tether.home import resolve_home

    return "sqlite://" + str((resolve_home(home) / "tether.db").absolute())


def open_store(home: str | os.PathLike[str] | None = None, *, url: str | None = None) -> Store:
    """Open the store: the one place that chooses and constructs a backend.

    Args:
        home: the tether home (``<home>/tether.db``); ``None`` resolves it as
            :func:`tether.home.resolve_home` does. Ignored when ``url`` is given.
        url: ``sqlite:///abs/path.db``; a plain file path (what older pending approvals
            recorded) also opens as SQLite. ``postgresql://`` is reserved for a future backend.

    Raises:
        ConfigError: ``url`` has a scheme no backend speaks (the message names it).
    """
    from tether.store.sqlite import SQLiteStore

    if url is None:
        return SQLiteStore(Path(store_url(home).removeprefix("sqlite://")))
    scheme, sep, rest = url.partition("://")
    if not sep:
        return SQLiteStore(Path(url))
    if scheme == "sqlite":
        return SQLiteStore(Path(rest))
    from tether.errors import ConfigError

    raise ConfigError(f"store url {url!r}: unknown scheme {scheme!r} (tether speaks sqlite://)")
