"""What recovery keeps of each attempt: a rule's tally in the store and an observation line.

Keeping records never decides a job: a store or disk that cannot be written is warned about
once per engine, and recovery goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tether.errors import StoreError

if TYPE_CHECKING:
    from tether.store import Store
    from tether.store.homefiles import HomeFiles

__all__ = ["UNMATCHED_CONTEXT_CHARS", "Records"]

UNMATCHED_CONTEXT_CHARS = 16384
"""How much of each text field of an unmatched failure's context is kept (its tail)."""


class Records:
    """The records of one engine.

    Args:
        store: returns the store (called only when a record is written, so it opens lazily).
        files: the home's files (``observations.jsonl``).
        warn: how to tell the user records are not kept (called at most once).
    """

    def __init__(
        self, store: Callable[[], Store], files: HomeFiles, warn: Callable[[str], None]
    ) -> None:
        self._store = store
        self._files = files
        self._warn = warn
        self._warned = False

    def attempt(self, rule: str, succeeded: bool, observation: dict[str, Any]) -> None:
        """Count one application of ``rule`` and keep its observation."""
        try:
            self._store().record_outcome(rule, "success" if succeeded else "failure")
            self._files.observe(observation)
        except (StoreError, OSError) as exc:
            self._not_kept(exc)

    def unmatched(self, context: Mapping[str, Any], reason: str) -> None:
        """Keep the context of a failure no rule fired for (``outcome: "unmatched"``), so that
        ``tether rules test`` and ``tether explore`` can be fed the real failure later."""
        kept = {
            k: (v[-UNMATCHED_CONTEXT_CHARS:] if isinstance(v, str) else v)
            for k, v in context.items()
        }
        record = {
            "kind": "unmatched",
            "rule": None,
            "outcome": "unmatched",
            "reason": reason,
            "context": kept,
        }
        try:
            self._files.observe(record)
        except (StoreError, OSError) as exc:
            self._not_kept(exc)

    def _not_kept(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            self._warn(f"records not kept: {exc}")
