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
def m005_automation_slots(db: sqlite3.Connection) -> None:
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
def m006_inbox(db: sqlite3.Connection) -> None:
    """Inbox items by dedupe key and the runs that raised them (``tether.store.inbox``)."""
    db.execute(
        """
        CREATE TABLE inbox_items (
            id INTEGER PRIMARY KEY,
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
