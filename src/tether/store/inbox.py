"""SQL of the inbox: ``inbox_items`` (one row per dedupe key) and ``inbox_runs`` (which runs
raised it).

A put of a key already there counts one more occurrence (``count``, ``last_seen_unix_s``) in
the same statement that would have created it (``INSERT … ON CONFLICT (key) DO UPDATE``), so
processes putting at once lose no count. A resolved item that occurs again opens again; an
acknowledged or dismissed one keeps its status and counts on. Plain SQL, for PostgreSQL too.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tether.store._tx import read_errors, write_tx

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


def put(
    db: sqlite3.Connection, key: str, title: str, detail: str, run_id: str | None, now: float
) -> dict[str, Any]:
    """Add one occurrence of ``key`` (create it, or count it again); returns the item."""
    with write_tx(db):
        db.execute(
            "INSERT INTO inbox_items (key, title, detail, status, count, first_seen_unix_s, "
            "last_seen_unix_s, status_changed_unix_s) VALUES (?, ?, ?, 'open', 1, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET count = inbox_items.count + 1, "
            "title = excluded.title, detail = excluded.detail, "
            "last_seen_unix_s = excluded.last_seen_unix_s, "
            "status = CASE WHEN inbox_items.status = 'resolved' THEN 'open' "
            "ELSE inbox_items.status END, "
            "status_changed_unix_s = CASE WHEN inbox_items.status = 'resolved' "
            "THEN excluded.last_seen_unix_s ELSE inbox_items.status_changed_unix_s END",
            (key, title, detail, now, now, now),
        )
        (item_id,) = db.execute("SELECT id FROM inbox_items WHERE key = ?", (key,)).fetchone()
        if run_id is not None:
            db.execute(
                "INSERT INTO inbox_runs (item_id, run_id, seen_unix_s) VALUES (?, ?, ?) "
                "ON CONFLICT (item_id, run_id) DO NOTHING",
                (item_id, run_id, now),
            )
        found = _get(db, "id = ?", item_id)
    assert found is not None
    return found


def _get(db: sqlite3.Connection, where: str, value: Any) -> dict[str, Any] | None:
    row = db.execute(
        f"SELECT {', '.join(COLUMNS)} FROM inbox_items WHERE {where}", (value,)
    ).fetchone()
    if row is None:
        return None
    item = dict(zip(COLUMNS, row, strict=True))
    item["run_ids"] = [
        r[0]
        for r in db.execute(
            "SELECT run_id FROM inbox_runs WHERE item_id = ? ORDER BY seen_unix_s, run_id",
            (item["id"],),
        )
    ]
    return item


def get(db: sqlite3.Connection, ref: str | int) -> dict[str, Any] | None:
    """The item with id ``ref`` (an int, or a string of digits) or dedupe key ``ref``."""
    with read_errors():
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            found = _get(db, "id = ?", int(ref))
            if found is not None or isinstance(ref, int):
                return found
        return _get(db, "key = ?", str(ref))


def items(db: sqlite3.Connection, statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Items (with ``run_ids``), most recently seen first, optionally only those ``statuses``."""
    sql = "SELECT id FROM inbox_items"
    if statuses:
        sql += f" WHERE status IN ({', '.join('?' for _ in statuses)})"
    sql += " ORDER BY last_seen_unix_s DESC, id DESC"
    with read_errors():
        ids = [r[0] for r in db.execute(sql, statuses)]
        return [found for i in ids if (found := _get(db, "id = ?", i)) is not None]


def set_status(db: sqlite3.Connection, item_id: int, status: str, now: float) -> bool:
    """Move item ``item_id`` to ``status`` (one of :data:`STATUSES`); False if no such item."""
    if status not in STATUSES:
        raise ValueError(f"inbox status must be one of {STATUSES}, not {status!r}")
    with write_tx(db):
        cursor = db.execute(
            "UPDATE inbox_items SET status = ?, status_changed_unix_s = ? WHERE id = ?",
            (status, now, item_id),
        )
    return cursor.rowcount == 1
