"""The store's schema: migrations on real SQLite files, applied once and in order."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tether.errors import StoreError
from tether.store import migrations
from tether.store.migrations import MIGRATIONS, migrate
from tether.store.sqlite import SQLiteStore

RULE_STATS = [
    # name, declared type, NOT NULL, default, primary-key position
    ("rule", "TEXT", 0, None, 1),
    ("hits", "INTEGER", 1, "0", 0),
    ("successes", "INTEGER", 1, "0", 0),
    ("failures", "INTEGER", 1, "0", 0),
    ("last_outcome", "TEXT", 0, None, 0),
    ("last_used_utc", "TEXT", 0, None, 0),
]
RULE_CACHE = [
    ("path", "TEXT", 0, None, 1),
    ("mtime_ns", "INTEGER", 1, None, 0),
    ("size_bytes", "INTEGER", 1, None, 0),
    ("data_json", "TEXT", 1, None, 0),
]
REGULATOR_STATE = [
    ("user_id", "TEXT", 0, None, 1),
    ("state_json", "TEXT", 1, None, 0),
    ("updated_utc", "TEXT", 1, None, 0),
    ("version", "INTEGER", 1, "1", 0),
]
APPROVALS = [
    ("token", "TEXT", 0, None, 1),
    ("state_path", "TEXT", 1, None, 0),
    ("request_json", "TEXT", 1, None, 0),
    ("status", "TEXT", 1, None, 0),
    ("created_unix_s", "REAL", 1, None, 0),
    ("expires_unix_s", "REAL", 1, None, 0),
    ("decided_unix_s", "REAL", 0, None, 0),
    ("note", "TEXT", 1, "''", 0),
]
AUTOMATION_SLOTS = [
    ("automation", "TEXT", 1, None, 1),
    ("slot_unix_s", "REAL", 1, None, 2),
    ("status", "TEXT", 1, None, 0),
    ("reason", "TEXT", 1, "''", 0),
    ("run_id", "TEXT", 0, None, 0),
    ("owner", "TEXT", 1, "''", 0),
    ("recorded_unix_s", "REAL", 1, None, 0),
    ("started_unix_s", "REAL", 0, None, 0),
    ("finished_unix_s", "REAL", 0, None, 0),
    ("input_tokens", "INTEGER", 1, "0", 0),
    ("output_tokens", "INTEGER", 1, "0", 0),
    ("cost_usd", "REAL", 1, "0", 0),
]
INBOX_ITEMS = [
    ("id", "INTEGER", 0, None, 1),
    ("key", "TEXT", 1, None, 0),
    ("title", "TEXT", 1, None, 0),
    ("detail", "TEXT", 1, "''", 0),
    ("status", "TEXT", 1, "'open'", 0),
    ("count", "INTEGER", 1, "1", 0),
    ("first_seen_unix_s", "REAL", 1, None, 0),
    ("last_seen_unix_s", "REAL", 1, None, 0),
    ("status_changed_unix_s", "REAL", 1, None, 0),
]
INBOX_RUNS = [
    ("item_id", "INTEGER", 1, None, 1),
    ("run_id", "TEXT", 1, None, 2),
    ("seen_unix_s", "REAL", 1, None, 0),
]
NAMES = [
    "m001_rule_stats",
    "m002_rule_cache",
    "m003_regulator_state",
    "m004_approvals",
    "m005_automation_slots",
    "m006_inbox",
    "m007_tasks",
    "m008_regulator_version",
]


def columns(db: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    return [tuple(row[1:]) for row in db.execute(f"PRAGMA table_info({table})")]


def tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def applied(db: sqlite3.Connection) -> list[tuple[str, str]]:
    return list(db.execute("SELECT name, applied_utc FROM _tether_migrations ORDER BY rowid"))


@pytest.fixture(params=[None, ""], ids=["autocommit", "default-isolation"])
def blank(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to a new, empty database file."""
    db = sqlite3.connect(tmp_path / "blank.db", isolation_level=request.param)
    yield db
    db.close()


def test_migrating_a_blank_database_creates_the_exact_schema(blank: sqlite3.Connection) -> None:
    assert tables(blank) == set()

    assert migrate(blank) == NAMES

    assert tables(blank) == {
        "rule_stats",
        "rule_cache",
        "regulator_state",
        "approvals",
        "_tether_migrations",
        "automation_slots",
        "inbox_items",
        "inbox_runs",
        "sqlite_sequence",
        "tasks",
        "task_runs",
    }
    assert columns(blank, "automation_slots") == AUTOMATION_SLOTS
    assert columns(blank, "inbox_items") == INBOX_ITEMS
    assert columns(blank, "inbox_runs") == INBOX_RUNS
    assert columns(blank, "approvals") == APPROVALS
    assert columns(blank, "rule_stats") == RULE_STATS
    assert columns(blank, "rule_cache") == RULE_CACHE
    assert columns(blank, "regulator_state") == REGULATOR_STATE
    assert "last_run_id" in [c[0] for c in columns(blank, "tasks")]
    rows = applied(blank)
    assert [name for name, _ in rows] == NAMES
    for _, when in rows:
        assert datetime.fromisoformat(when).utcoffset() is not None  # UTC, with its offset
    assert not blank.in_transaction


def test_migrating_twice_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "twice.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db)
    db.execute("INSERT INTO rule_stats (rule, hits) VALUES ('kept', 7)")
    schema = list(db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name"))
    before = applied(db)
    db.close()

    db = sqlite3.connect(path, isolation_level=None)  # as a later process would
    assert migrate(db) == []
    assert migrate(db) == []
    assert applied(db) == before
    assert list(db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name")) == schema
    assert list(db.execute("SELECT rule, hits FROM rule_stats")) == [("kept", 7)]
    db.close()


def m099_rule_notes(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE rule_stats ADD COLUMN notes TEXT")


def test_a_new_step_is_applied_once_on_an_existing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = sqlite3.connect(tmp_path / "grow.db", isolation_level=None)
    migrate(db)
    db.execute("INSERT INTO rule_stats (rule, hits) VALUES ('kept', 3)")

    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, m099_rule_notes])
    assert migrate(db) == ["m099_rule_notes"]
    assert migrate(db) == []

    assert [c[0] for c in columns(db, "rule_stats")] == [c[0] for c in RULE_STATS] + ["notes"]
    assert [n for n, _ in applied(db)] == [*NAMES, "m099_rule_notes"]
    assert list(db.execute("SELECT rule, hits, notes FROM rule_stats")) == [("kept", 3, None)]
    db.close()


def m099_clashes(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE rule_stats (rule TEXT)")  # really fails: the table exists


def test_a_failing_step_rolls_back_the_whole_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = sqlite3.connect(tmp_path / "broken.db", isolation_level=None)
    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, m099_clashes])

    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        migrate(db)

    assert not db.in_transaction
    assert tables(db) == {"_tether_migrations"}  # the steps before it were undone too
    assert applied(db) == []

    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    assert migrate(db) == NAMES
    db.close()


def test_a_database_from_an_older_version_gets_only_the_missing_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tether.db"
    db = sqlite3.connect(path, isolation_level=None)
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS[:1])
    assert migrate(db) == ["m001_rule_stats"]
    db.execute("INSERT INTO rule_stats (rule, hits, successes) VALUES ('old', 4, 4)")
    db.close()
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)

    store = SQLiteStore(path)
    [stats] = store.rule_stats()
    assert (stats.rule, stats.hits, stats.successes) == ("old", 4, 4)
    store.close()

    db = sqlite3.connect(path)
    assert [n for n, _ in applied(db)] == NAMES
    assert columns(db, "rule_cache") == RULE_CACHE
    db.close()


def test_the_store_migrates_a_new_file_in_wal_mode_and_only_once(tmp_path: Path) -> None:
    path = tmp_path / "home" / "tether.db"
    store = SQLiteStore(path)
    assert store.rule_stats() == []
    store.record_outcome("r", "success")
    store.close()
    again = SQLiteStore(path)
    assert [(s.rule, s.hits) for s in again.rule_stats()] == [("r", 1)]
    again.close()

    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert [n for n, _ in applied(db)] == NAMES
    assert columns(db, "rule_stats") == RULE_STATS
    db.close()


def test_a_schema_from_a_newer_tether_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "tether.db"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db)
    db.execute("INSERT INTO _tether_migrations VALUES ('m999_from_the_future', '2030-01-01')")
    db.close()

    store = SQLiteStore(path)
    with pytest.raises(StoreError, match=r"newer tether.*m999_from_the_future"):
        store.rule_stats()
    assert str(path) in str(excinfo_message(store))
    db = sqlite3.connect(path)
    assert [n for n, _ in applied(db)] == [*NAMES, "m999_from_the_future"]
    db.close()


def excinfo_message(store: SQLiteStore) -> str:
    try:
        store.open()
    except StoreError as exc:
        return str(exc)
    raise AssertionError("expected a refusal")
