"""SQL of the ``automation_slots`` table: one row per (automation, slot), the claim and history.

A scheduler **claims** a slot by inserting its row; the primary key (automation, slot) makes
the insert fail for every other scheduler sharing the home, so each slot runs at most once
however many ``run`` daemons and ``tick`` calls race for it, on one SQLite file or one
PostgreSQL database. A batch of claims is one ``INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING
RETURNING`` per 500 rows: the rows it gives back are the slots this call won. The functions
take an :class:`~tether.store.sql.SQL` (either backend); errors are the driver's, reported by
the store that called.

Statuses: ``running`` and ``queued`` (in flight or buffered), then ``ran``, ``failed``,
``skipped`` (overlap or budget) or ``missed`` (downtime beyond the catch-up policy).
Times are Unix seconds (``*_unix_s``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tether.store.sql import SQL, marks

__all__ = ["CLAIM_BATCH", "COLUMNS", "claim", "last_slot", "rows", "update", "usage_since"]

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

CLAIM_BATCH = 500
"""Rows per claim statement (7 parameters a row, well under SQLite's 32766)."""


def claim(db: SQL, rows_: Iterable[tuple[str, float, str, str, str, float]]) -> list[bool]:
    """Insert ``(automation, slot_unix_s, status, reason, owner, now_unix_s)`` rows where no
    row for that slot exists yet, in one transaction; for each, whether this call inserted it
    (``False``: another scheduler recorded the slot first, or the slot is listed twice and this
    is not its first listing). A ``running`` row gets ``started_unix_s = now``."""
    wanted = [
        (a, float(s), status, reason, owner, now) for a, s, status, reason, owner, now in rows_
    ]
    got: set[tuple[str, float]] = set()
    with db.transaction():
        for start in range(0, len(wanted), CLAIM_BATCH):
            chunk = wanted[start : start + CLAIM_BATCH]
            params: list[Any] = []
            for automation, slot, status, reason, owner, now in chunk:
                started = now if status == "running" else None
                params += [automation, slot, status, reason, owner, now, started]
            values = ", ".join("(?, ?, ?, ?, ?, ?, ?)" for _ in chunk)
            inserted = db.execute(
                "INSERT INTO automation_slots (automation, slot_unix_s, status, reason, owner, "
                f"recorded_unix_s, started_unix_s) VALUES {values} "
                "ON CONFLICT (automation, slot_unix_s) DO NOTHING "
                "RETURNING automation, slot_unix_s",
                params,
            )
            got.update((str(a), float(s)) for a, s in inserted.rows)
    won = []
    for automation, slot, *_ in wanted:
        won.append((automation, slot) in got)
        got.discard((automation, slot))  # listed twice: only the first listing won it
    return won


def update(
    db: SQL,
    automation: str,
    slot: float,
    *,
    status: str,
    when: tuple[str, ...],
    fields: dict[str, Any],
) -> bool:
    """Set ``status`` (and ``fields``, a subset of :data:`COLUMNS` after ``status``) on one
    slot's row if its status is one of ``when``; True if it changed. Check and change are one
    statement, so of two schedulers moving a slot out of ``queued`` exactly one does.

    Raises:
        ValueError: ``fields`` names a column that is not updatable.
    """
    bad = set(fields) - set(COLUMNS[3:])
    if bad:
        raise ValueError(f"not updatable: {sorted(bad)}")
    if not when:
        return False
    names = ["status", *fields]
    sets = ", ".join(f"{n} = ?" for n in names)
    changed = db.execute(
        f"UPDATE automation_slots SET {sets} "
        f"WHERE automation = ? AND slot_unix_s = ? AND status IN ({marks(when)})",
        (status, *fields.values(), automation, float(slot), *when),
    )
    return changed.rowcount == 1


def rows(
    db: SQL,
    automation: str,
    *,
    statuses: tuple[str, ...] = (),
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The automation's slot rows as dicts (keys :data:`COLUMNS`), newest slot first; only
    those in ``statuses`` when given, at most ``limit``."""
    sql = f"SELECT {', '.join(COLUMNS)} FROM automation_slots WHERE automation = ?"
    args: list[Any] = [automation]
    if statuses:
        sql += f" AND status IN ({marks(statuses)})"
        args.extend(statuses)
    sql += " ORDER BY slot_unix_s DESC"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return [dict(zip(COLUMNS, row, strict=True)) for row in db.execute(sql, args).rows]


def last_slot(db: SQL, automation: str) -> float | None:
    """The newest recorded slot of ``automation`` (Unix seconds), or ``None``."""
    row = db.execute(
        "SELECT MAX(slot_unix_s) FROM automation_slots WHERE automation = ?", (automation,)
    ).first()
    return None if row is None or row[0] is None else float(row[0])


def usage_since(db: SQL, automation: str, since: float) -> tuple[int, float]:
    """Tokens (input + output) and USD spent by the automation's runs whose slot is at or
    after ``since`` (Unix seconds)."""
    row = db.execute(
        "SELECT COALESCE(SUM(input_tokens + output_tokens), 0), COALESCE(SUM(cost_usd), 0) "
        "FROM automation_slots WHERE automation = ? AND slot_unix_s >= ?",
        (automation, since),
    ).first()
    assert row is not None  # an aggregate always gives one row
    return int(row[0]), float(row[1])
