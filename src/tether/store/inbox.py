"""SQL of the inbox: ``inbox_items`` (one row per dedupe key) and ``inbox_runs`` (which runs
raised it).

A put of a key already there counts one more occurrence (``count``, ``last_seen_unix_s``) in
the same statement that would have created it (``INSERT … ON CONFLICT (key) DO UPDATE …
RETURNING id``), so processes putting at once lose no count, on one SQLite file or one
PostgreSQL database. A resolved item that occurs again opens again; an acknowledged or
dismissed one keeps its status and counts on. An item is read with its runs in one statement
(a ``LEFT JOIN``). The functions take an :class:`~tether.store.sql.SQL` (either backend);
errors are the driver's, reported by the store that called.
"""

from __future__ import annotations

from typing import Any

from tether.store.sql import SQL, marks

__all__ = ["COLUMNS", "STATUSES", "get", "items", "put", "set_status"]

COLUMNS = (
    "id",
    "key",
    "title",
    "detail",
    "status",
    "count",
    "first_seen_unix_s",
    "last_seen_unix_s",
    "status_changed_unix_s",
)
STATUSES = ("open", "acked", "resolved", "dismissed")

_MAX_ID = 2**63 - 1
"""The largest id either backend stores (a 64-bit integer)."""


def put(
    db: SQL, key: str, title: str, detail: str, run_id: str | None, now: float
) -> dict[str, Any]:
    """Add one occurrence of ``key`` (create it, or count it again) at ``now`` (Unix seconds),
    with ``run_id`` among its runs (each run once); returns the item as :func:`get` does."""
    with db.transaction():
        upserted = db.execute(
            "INSERT INTO inbox_items (key, title, detail, status, count, first_seen_unix_s, "
            "last_seen_unix_s, status_changed_unix_s) VALUES (?, ?, ?, 'open', 1, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET count = inbox_items.count + 1, "
            "title = excluded.title, detail = excluded.detail, "
            "last_seen_unix_s = excluded.last_seen_unix_s, "
            "status = CASE WHEN inbox_items.status = 'resolved' THEN 'open' "
            "ELSE inbox_items.status END, "
            "status_changed_unix_s = CASE WHEN inbox_items.status = 'resolved' "
            "THEN excluded.last_seen_unix_s ELSE inbox_items.status_changed_unix_s END "
            "RETURNING id",
            (key, title, detail, now, now, now),
        ).first()
        assert upserted is not None  # an upsert always gives its row back
        if run_id is not None:
            db.execute(
                "INSERT INTO inbox_runs (item_id, run_id, seen_unix_s) VALUES (?, ?, ?) "
                "ON CONFLICT (item_id, run_id) DO NOTHING",
                (upserted[0], run_id, now),
            )
        [found] = _select(db, "i.id = ?", (upserted[0],))
    return found


def _select(db: SQL, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Items matching ``where`` (over ``inbox_items i``) with their ``run_ids``, most recently
    seen first: one statement, items joined to their runs."""
    columns = ", ".join(f"i.{c}" for c in COLUMNS)
    found = db.execute(
        f"SELECT {columns}, r.run_id FROM inbox_items i "
        "LEFT JOIN inbox_runs r ON r.item_id = i.id "
        f"WHERE {where} "
        "ORDER BY i.last_seen_unix_s DESC, i.id DESC, r.seen_unix_s, r.run_id",
        params,
    ).rows
    out: list[dict[str, Any]] = []
    for row in found:
        if not out or out[-1]["id"] != row[0]:
            out.append({**dict(zip(COLUMNS, row[:-1], strict=True)), "run_ids": []})
        if row[-1] is not None:
            out[-1]["run_ids"].append(row[-1])
    return out


def get(db: SQL, ref: str | int) -> dict[str, Any] | None:
    """The item with id ``ref`` (an int, or a string of digits) or dedupe key ``ref``, or
    ``None``."""
    if isinstance(ref, int) or (ref.isascii() and ref.isdigit()):
        number = int(ref)
        found = _select(db, "i.id = ?", (number,)) if 0 <= number <= _MAX_ID else []
        if found or isinstance(ref, int):
            return found[0] if found else None
    found = _select(db, "i.key = ?", (str(ref),))
    return found[0] if found else None


def items(db: SQL, statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Items (with ``run_ids``), most recently seen first, optionally only those ``statuses``."""
    if not statuses:
        return _select(db, "1 = 1", ())
    return _select(db, f"i.status IN ({marks(statuses)})", tuple(statuses))


def set_status(db: SQL, item_id: int, status: str, now: float) -> bool:
    """Move item ``item_id`` to ``status`` (one of :data:`STATUSES`) at ``now`` (Unix seconds);
    False if no such item.

    Raises:
        ValueError: ``status`` is not one of :data:`STATUSES`.
    """
    if status not in STATUSES:
        raise ValueError(f"inbox status must be one of {STATUSES}, not {status!r}")
    if not 0 <= item_id <= _MAX_ID:
        return False
    changed = db.execute(
        "UPDATE inbox_items SET status = ?, status_changed_unix_s = ? WHERE id = ?",
        (status, now, item_id),
    )
    return changed.rowcount == 1
