"""Where tether keeps records: one small interface, an embedded SQLite implementation.

:class:`Store` is the whole contract the rest of tether uses, so a shared
backend (PostgreSQL with the same schema, for a fleet of runners) is a new
implementation of this Protocol, not a rewrite.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["RuleStats", "Store"]


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

    def close(self) -> None:
        """Release the connection."""
        ...
