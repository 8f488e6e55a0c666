"""The store's schema, as numbered migration steps (applied once, in order, never edited).

Each step is a function ``mNNN_name(db)``; the names of applied steps are kept
in ``_tether_migrations``. To change the schema, append a new step. Columns
carry their unit in the name (``duration_ms``, ``created_utc``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["MIGRATIONS", "migrate"]

MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = []
migration = MIGRATIONS.append


@migration
def m001_rule_stats(db: sqlite3.Connection) -> None:
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
def m002_rule_cache(db: sqlite3.Connection) -> None:
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
def m003_regulator_state(db: sqlite3.Connection) -> None:
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
def m004_approvals(db: sqlite3.Connection) -> None:
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
def m007_tasks(db: sqlite3.Connection) -> None:
    from tether.store.tasks import SCHEMA

    for statement in SCHEMA:
        db.execute(statement)


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the steps ``db`` has not seen, in one write transaction; returns their names.

    Safe with several processes opening one database at once: the check and
    the steps run under ``BEGIN IMMEDIATE``.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS _tether_migrations (name TEXT PRIMARY KEY, applied_utc TEXT)"
    )
    applied_now = []
    db.execute("BEGIN IMMEDIATE")
    try:
        done = {row[0] for row in db.execute("SELECT name FROM _tether_migrations")}
        for step in MIGRATIONS:
            if step.__name__ in done:
                continue
            step(db)
            db.execute(
                "INSERT INTO _tether_migrations (name, applied_utc) VALUES (?, ?)",
                (step.__name__, datetime.now(UTC).isoformat()),
            )
            applied_now.append(step.__name__)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return applied_now
