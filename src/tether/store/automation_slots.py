"""SQL of the ``automation_slots`` table: one row per (automation, slot), the claim and history.

A scheduler **claims** a slot by inserting its row; the primary key (automation, slot) makes
the insert fail for every other scheduler sharing the home, so each slot runs at most once
however many ``run`` daemons and ``tick`` calls race for it. Plain SQL (``INSERT … ON CONFLICT
DO NOTHING``) so the same statements run on PostgreSQL.

Statuses: ``running`` and ``queued`` (in flight or buffered), then ``ran``, ``failed``,
``skipped`` (overlap or budget) or ``missed`` (downtime beyond the catch-up policy).
Times are Unix seconds (``*_unix_s``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from tether.store._tx import read_errors, write_tx

__all__ = ["COLUMNS", "claim", "last_slot", "rows", "update", "usage_since"]

COLUMNS = (
    "automation",
    "slot_unix_s",
    "status",
    "reason",
    "run_id",
    "owner",
    "recorded_unix_s",
    "started_unix_s",
    "finished_unix_s",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)


def claim(
    db: sqlite3.Connection,
    rows_: Iterable[tuple[str, float, str, str, str, float]],
) -> list[bool]:
    """Insert ``(automation, slot_unix_s, status, reason, owner, now_unix_s)`` rows where no
    row for that slot exists yet, in one transaction; for each, whether this call inserted it
    (``False``: another scheduler recorded the slot first)."""
    won = []
    with write_tx(db):
        for automation, slot, status, reason, owner, now in rows_:
            cursor = db.execute(
                "INSERT INTO automation_slots (automation, slot_unix_s, status, reason, owner, "
                "recorded_unix_s, started_unix_s) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (automation, slot_unix_s) DO NOTHING",
                (
                    automation,
                    slot,
                    status,
                    reason,
                    owner,
                    now,
                    now if status == "running" else None,
                ),
            )
            won.append(cursor.rowcount == 1)
    return won


def update(
    db: sqlite3.Connection,
    automation: str,
    slot: float,
    *,
    status: str,
    when: tuple[str, ...],
    fields: dict[str, Any],
) -> bool:
    """Set ``status`` (and ``fields``, a subset of :data:`COLUMNS`) on one slot's row if its
    status is one of ``when``; True if it changed. Check and change are one statement."""
    bad = set(fields) - set(COLUMNS[3:])
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    names = ["status", *fields]
    sets = ", ".join(f"{n} = ?" for n in names)
    marks = ", ".join("?" for _ in when)
    with write_tx(db):
        cursor = db.execute(
            f"UPDATE automation_slots SET {sets} "
            f"WHERE automation = ? AND slot_unix_s = ? AND status IN ({marks})",
            (status, *fields.values(), automation, slot, *when),
        )
    return cursor.rowcount == 1


def rows(
    db: sqlite3.Connection,
    automation: str,
    *,
    statuses: tuple[str, ...] = (),
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The automation's slot rows as dicts (keys :data:`COLUMNS`), newest slot first."""
    sql = f"SELECT {', '.join(COLUMNS)} FROM automation_slots WHERE automation = ?"
    args: list[Any] = [automation]
    if statuses:
        sql += f" AND status IN ({', '.join('?' for _ in statuses)})"
        args.extend(statuses)
    sql += " ORDER BY slot_unix_s DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    with read_errors():
        found = db.execute(sql, args).fetchall()
    return [dict(zip(COLUMNS, row, strict=True)) for row in found]


def last_slot(db: sqlite3.Connection, automation: str) -> float | None:
    """The newest recorded slot of ``automation`` (Unix seconds), or ``None``."""
    with read_errors():
        row = db.execute(
            "SELECT MAX(slot_unix_s) FROM automation_slots WHERE automation = ?", (automation,)
        ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def usage_since(db: sqlite3.Connection, automation: str, since: float) -> tuple[int, float]:
    """Tokens (input + output) and USD spent by the automation's runs whose slot is at or
    after ``since``."""
    with read_errors():
        row = db.execute(
            "SELECT COALESCE(SUM(input_tokens + output_tokens), 0), COALESCE(SUM(cost_usd), 0) "
            "FROM automation_slots WHERE automation = ? AND slot_unix_s >= ?",
            (automation, since),
        ).fetchone()
    return int(row[0]), float(row[1])
