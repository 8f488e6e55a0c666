"""The store's schema, as numbered migration steps (applied once, in order, never edited).

The same steps run on every backend (SQLite here, PostgreSQL in
:mod:`tether.store.postgres`); the names of applied steps are kept in
``_tether_migrations``. Columns carry their unit in the name (``duration_ms``,
``created_utc``). A database holding a step this tether does not know (written
by a newer tether) is refused with a :class:`~tether.errors.StoreError`, never
migrated "down" or used half-understood.

How to add a step
-----------------
Append a function ``mNNN_what(db: StepDB) -> None`` decorated with
``@migration``; its name is its identity, so never rename or edit a step once
released. Write its SQL as SQLite spells it and call only ``db.execute(sql)``
(one statement a call, no parameters, no ``PRAGMA``/``executescript``): the
PostgreSQL runner maps the column types (``INTEGER`` -> ``BIGINT``, ``REAL`` ->
``DOUBLE PRECISION``, ``BLOB`` -> ``BYTEA``, ``INTEGER PRIMARY KEY AUTOINCREMENT``
-> an identity column) and runs the rest unchanged, so keep to SQL both speak:
``CREATE TABLE``/``CREATE INDEX``/``ALTER TABLE ... ADD COLUMN`` with defaults,
``INSERT ... ON CONFLICT``. Where the two really differ, branch on
``db.dialect`` (``"sqlite"`` or ``"postgresql"``). Each runner applies all
pending steps in one transaction under its lock (``BEGIN IMMEDIATE``; a
PostgreSQL advisory lock), so many processes starting together apply each
step once. Then add the new table's columns to ``tests/store/test_migrate.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

from tether.errors import StoreError

__all__ = ["MIGRATIONS", "StepDB", "migrate", "pending_steps"]


class StepDB(Protocol):
    """What a migration step is given: one ``execute(sql)`` and the backend's name."""

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        ...

    def execute(self, sql: str, /) -> object:
        """Run one statement (SQLite's spelling; see the module docstring)."""
        ...


Step = Callable[[StepDB], None]

MIGRATIONS: list[Step] = []
migration = MIGRATIONS.append


@migration
def m001_rule_stats(db: StepDB) -> None:
    db.execute(
        """
        CREATE TABLE rule_stats (
            rule TEXT PRIMARY KEY,
            hits INTEGER NOT NULL DEFAULT 0,
            successes INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            last_outcome TEXT,
            last_used_utc TEXT
        )
        """
    )


@migration
def m002_rule_cache(db: StepDB) -> None:
    db.execute(
        """
        CREATE TABLE rule_cache (
            path TEXT PRIMARY KEY,
            mtime_ns INTEGER NOT NULL,
            size_bytes INTEGER NOT NULL,
            data_json TEXT NOT NULL
        )
        """
    )


@migration
def m003_regulator_state(db: StepDB) -> None:
    db.execute(
        """
        CREATE TABLE regulator_state (
            user_id TEXT PRIMARY KEY,
            state_json TEXT NOT NULL,
            updated_utc TEXT NOT NULL
        )
        """
    )


@migration
def m004_approvals(db: StepDB) -> None:
    db.execute(
        """
        CREATE TABLE approvals (
            token TEXT PRIMARY KEY,
            state_path TEXT NOT NULL,
            request_json TEXT NOT NULL,
            status TEXT NOT NULL,
            created_unix_s REAL NOT NULL,
            expires_unix_s REAL NOT NULL,
            decided_unix_s REAL,
            note TEXT NOT NULL DEFAULT ''
        )
        """
    )


@migration
def m005_automation_slots(db: StepDB) -> None:
    """One row per (automation, slot): the claim and the history (``tether.store.automation_slots``)."""
    db.execute(
        """
        CREATE TABLE automation_slots (
            automation TEXT NOT NULL,
            slot_unix_s REAL NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            run_id TEXT,
            owner TEXT NOT NULL DEFAULT '',
            recorded_unix_s REAL NOT NULL,
            started_unix_s REAL,
            finished_unix_s REAL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            PRIMARY KEY (automation, slot_unix_s)
        )
        """
    )
    db.execute("CREATE INDEX automation_slots_status ON automation_slots (automation, status)")


@migration
def m006_inbox(db: StepDB) -> None:
    """Inbox items by dedupe key and the runs that raised them (``tether.store.inbox``)."""
    db.execute(
        """
        CREATE TABLE inbox_items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'open',
            count INTEGER NOT NULL DEFAULT 1,
            first_seen_unix_s REAL NOT NULL,
            last_seen_unix_s REAL NOT NULL,
            status_changed_unix_s REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE inbox_runs (
            item_id INTEGER NOT NULL REFERENCES inbox_items (id),
            run_id TEXT NOT NULL,
            seen_unix_s REAL NOT NULL,
            PRIMARY KEY (item_id, run_id)
        )
        """
    )


@migration
def m007_tasks(db: StepDB) -> None:
    """Tasks by task key and the runs that decided them (``tether.store.tasks``)."""
    db.execute(
        """
        CREATE TABLE tasks (
            task_key TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            runs INTEGER NOT NULL DEFAULT 0,
            last_run_id TEXT NOT NULL,
            first_unix_s REAL NOT NULL,
            last_unix_s REAL NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE task_runs (
            run_id TEXT PRIMARY KEY,
            task_key TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL,
            tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL,
            created_unix_s REAL NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX task_runs_by_key ON task_runs (task_key, created_unix_s)")


@migration
def m008_regulator_version(db: StepDB) -> None:
    # Optimistic concurrency for regulator state: a save may name the version it read.
    db.execute("ALTER TABLE regulator_state ADD COLUMN version INTEGER NOT NULL DEFAULT 1")


def pending_steps(done: Iterable[str], *, where: str) -> list[Step]:
    """The steps not in ``done`` (names of applied steps), in order.

    Raises:
        StoreError: ``done`` names a step this tether does not know: the database was
            migrated by a newer tether (``where`` names it in the message).
    """
    applied = set(done)
    known = [step.__name__ for step in MIGRATIONS]
    unknown = sorted(applied - set(known))
    if unknown:
        raise StoreError(
            f"{where}: the store's schema is from a newer tether (applied steps unknown to this "
            f"version: {', '.join(unknown)}); upgrade tether on this machine, or point it at "
            "another store"
        )
    return [step for step in MIGRATIONS if step.__name__ not in applied]


def now_utc() -> str:
    """The time a step is recorded as applied: UTC, ISO 8601 with its offset."""
    return datetime.now(UTC).isoformat()


class _SQLiteSteps:
    """A SQLite connection as the steps see it."""

    dialect = "sqlite"

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, /) -> object:
        return self._db.execute(sql)


def migrate(db: sqlite3.Connection, *, where: str = "tether.db") -> list[str]:
    """Apply the steps the SQLite database ``db`` has not seen, in one write transaction.

    Safe with several processes opening one database at once: the check and
    the steps run under ``BEGIN IMMEDIATE``.

    Returns:
        The names of the steps applied now (``[]`` when it was up to date).

    Raises:
        StoreError: the database holds steps from a newer tether (nothing is changed).
        sqlite3.Error: a step failed (the whole batch is rolled back).
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS _tether_migrations (name TEXT PRIMARY KEY, applied_utc TEXT)"
    )
    applied_now = []
    db.execute("BEGIN IMMEDIATE")
    try:
        done = [row[0] for row in db.execute("SELECT name FROM _tether_migrations")]
        steps = _SQLiteSteps(db)
        for step in pending_steps(done, where=where):
            step(steps)
            db.execute(
                "INSERT INTO _tether_migrations (name, applied_utc) VALUES (?, ?)",
                (step.__name__, now_utc()),
            )
            applied_now.append(step.__name__)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return applied_now
