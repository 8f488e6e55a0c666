"""The inbox: what needs a person's attention, deduplicated, with a lifecycle.

Anything may put an item: a failed automation run, a worktree kept with work in it, a goal
run that gave up. Items are keyed by a **dedupe key** the caller chooses
(``automation:nightly:BUDGET_EXHAUSTED``): putting the same key again counts one more
occurrence (``count``, ``last_seen``, the run id) instead of adding a line, so a job failing
every 15 minutes overnight is one item with ``count == 48``. Lifecycle: ``open`` → ``acked``
(seen, being handled) → ``resolved`` or ``dismissed``; a resolved item that occurs again
opens again, an acked or dismissed one keeps its status and counts on.

Example::

    from tether.orchestrate import Inbox
    from tether.store import open_store

    inbox = Inbox(open_store(home))
    item = inbox.put("automation:nightly:ERROR", "nightly failed", detail="MissingKey", run_id=rid)
    inbox.ack(item.id)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from tether.orchestrate.errors import OrchestrationError
from tether.store import Store

__all__ = ["STATUSES", "Inbox", "InboxItem", "InboxStatus"]

InboxStatus = Literal["open", "acked", "resolved", "dismissed"]
STATUSES: tuple[InboxStatus, ...] = ("open", "acked", "resolved", "dismissed")


@dataclass(frozen=True)
class InboxItem:
    """One inbox item.

    Attributes:
        id: a small integer, stable for the item's life (what ``tether agent inbox ack`` takes).
        key: the dedupe key.
        title: one line, the latest put's.
        detail: more text, the latest put's.
        status: ``open``, ``acked``, ``resolved`` or ``dismissed``.
        count: how many times it was put.
        first_seen_s, last_seen_s: Unix seconds of the first and latest put.
        status_changed_s: Unix seconds of the latest status change.
        run_ids: the runs that put it, oldest first (each once).
    """

    id: int
    key: str
    title: str
    detail: str
    status: InboxStatus
    count: int
    first_seen_s: float
    last_seen_s: float
    status_changed_s: float
    run_ids: tuple[str, ...]

    @classmethod
    def _from_row(cls, row: dict[str, Any]) -> InboxItem:
        return cls(
            id=int(row["id"]),
            key=str(row["key"]),
            title=str(row["title"]),
            detail=str(row["detail"]),
            status=row["status"],
            count=int(row["count"]),
            first_seen_s=float(row["first_seen_unix_s"]),
            last_seen_s=float(row["last_seen_unix_s"]),
            status_changed_s=float(row["status_changed_unix_s"]),
            run_ids=tuple(row["run_ids"]),
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (the shape ``--json`` prints)."""
        out = asdict(self)
        out["run_ids"] = list(self.run_ids)
        return out


class Inbox:
    """The inbox over a store (:func:`tether.store.open_store`).

    Args:
        store: where the items live; several processes may share it (no count is lost).
        clock: Unix seconds now (injected in tests).
    """

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def put(
        self, key: str, title: str, *, detail: str = "", run_id: str | None = None
    ) -> InboxItem:
        """Add one occurrence of ``key``: a new open item, or one more count on the existing one.

        Args:
            key: the dedupe key (non-empty), e.g. ``"automation:nightly:ERROR"``.
            title: one line for lists.
            detail: the longer text (replaces the previous occurrence's).
            run_id: the run that raised it, remembered once.

        Raises:
            ValueError: an empty key or title.
            StoreError: the store cannot be written.
        """
        if not key.strip():
            raise ValueError("inbox key must not be empty")
        if not title.strip():
            raise ValueError("inbox title must not be empty")
        return InboxItem._from_row(self.store.inbox_put(key, title, detail, run_id, self.clock()))

    def list(
        self, *, status: InboxStatus | tuple[InboxStatus, ...] | None = None
    ) -> list[InboxItem]:
        """Items, most recently seen first; ``status`` keeps only those (default: all)."""
        wanted: tuple[str, ...] = (
            () if status is None else (status,) if isinstance(status, str) else status
        )
        return [InboxItem._from_row(r) for r in self.store.inbox_items(wanted)]

    def get(self, ref: str | int) -> InboxItem:
        """The item by id (``3`` or ``"3"``) or dedupe key.

        Raises:
            OrchestrationError: no such item.
        """
        row = self.store.inbox_get(ref)
        if row is None:
            raise OrchestrationError(
                f"inbox: no item {ref!r}; `tether agent inbox list` shows ids and keys"
            )
        return InboxItem._from_row(row)

    def set_status(self, ref: str | int, status: InboxStatus) -> InboxItem:
        """Move an item to ``status``; returns it as it is now.

        Raises:
            OrchestrationError: no such item.
            ValueError: not one of :data:`STATUSES`.
        """
        if status not in STATUSES:
            raise ValueError(f"inbox status must be one of {', '.join(STATUSES)}, not {status!r}")
        item = self.get(ref)
        self.store.inbox_set_status(item.id, status, self.clock())
        return self.get(item.id)

    def ack(self, ref: str | int) -> InboxItem:
        """Mark seen and being handled (see :meth:`set_status`)."""
        return self.set_status(ref, "acked")

    def resolve(self, ref: str | int) -> InboxItem:
        """Mark fixed; it opens again if it occurs again (see :meth:`set_status`)."""
        return self.set_status(ref, "resolved")

    def dismiss(self, ref: str | int) -> InboxItem:
        """Mark not worth attention; later occurrences only count (see :meth:`set_status`)."""
        return self.set_status(ref, "dismissed")
