"""The SQL shared by both backends (``tether.store.sql``): slot claims in batches, the inbox's
edges, placeholders, and errors that name the store. Each test runs on a SQLite file, then on
a fresh PostgreSQL schema (skipped locally without a server; see ``any_store_url``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tether.errors import StoreError
from tether.store import Store, open_store
from tether.store.automation_slots import CLAIM_BATCH
from tether.store.sql import marks, pyformat


@pytest.fixture
def store(any_store_url: str) -> Iterator[Store]:
    opened = open_store(url=any_store_url)
    yield opened
    opened.close()


def test_a_claim_larger_than_a_batch_wins_exactly_the_new_slots(store: Store) -> None:
    assert store.claim_slots([]) == []
    assert store.claim_slots([("a", 7.0, "missed", "", "me", 1.0)]) == [True]
    slots = [float(s) for s in range(CLAIM_BATCH * 2 + 3)]
    rows = [("a", s, "missed", "why", "other", 2.0) for s in slots]
    rows.insert(10, ("a", 3.0, "missed", "", "other", 2.0))  # listed twice in one call
    won = store.claim_slots(rows)
    assert len(won) == len(rows)
    assert won.count(False) == 2 and not won[7] and not won[10]  # 7 was taken; 3's repeat
    assert len(store.slot_rows("a")) == len(slots)
    assert store.last_slot("a") == slots[-1] and store.last_slot("b") is None
    [seven] = [r for r in store.slot_rows("a") if r["slot_unix_s"] == 7.0]
    assert (seven["owner"], seven["recorded_unix_s"]) == ("me", 1.0)  # the first claim stays


def test_a_running_claim_starts_and_updates_check_the_status(store: Store) -> None:
    assert store.claim_slots([("a", 60.0, "running", "", "me", 61.5)]) == [True]
    assert store.slot_rows("a", statuses=("running",), limit=1)[0]["started_unix_s"] == 61.5
    assert not store.update_slot("a", 60.0, status="ran", when=(), fields={})
    assert not store.update_slot("a", 60.0, status="ran", when=("queued",), fields={})
    fields = {"finished_unix_s": 70.0, "input_tokens": 5, "output_tokens": 7, "cost_usd": 0.25}
    assert store.update_slot("a", 60.0, status="ran", when=("running",), fields=fields)
    assert store.slot_usage("a", 60.0) == (12, 0.25) and store.slot_usage("a", 61.0) == (0, 0.0)
    with pytest.raises(ValueError, match="not updatable"):
        store.update_slot("a", 60.0, status="ran", when=("ran",), fields={"automation": "b"})


def test_inbox_ids_too_large_for_a_column_are_just_unknown(store: Store) -> None:
    item = store.inbox_put("k", "t", "", None, 5.0)
    assert item["run_ids"] == [] and item["count"] == 1
    huge = "9" * 30
    assert store.inbox_get(huge) is None and store.inbox_get(2**70) is None
    assert store.inbox_get(-1) is None and store.inbox_get("²") is None
    assert not store.inbox_set_status(2**70, "acked", 6.0)
    digits = store.inbox_put(huge, "a key of digits", "", "r", 7.0)
    assert store.inbox_get(huge) == digits  # not an id: found by key
    assert store.inbox_items(("open",)) == [digits, store.inbox_get("k")]


def test_a_failing_statement_names_the_store_and_rolls_back(
    store: Store, any_store_url: str
) -> None:
    store.inbox_put("k", "t", "", "r1", 5.0)
    if any_store_url.startswith("sqlite://"):
        db = sqlite3.connect(any_store_url.removeprefix("sqlite://"))
        db.execute("DROP TABLE inbox_runs")
        db.commit()
        db.close()
        where = any_store_url.removeprefix("sqlite://")
    else:
        import psycopg

        with psycopg.connect(any_store_url, autocommit=True) as conn:
            conn.execute("DROP TABLE inbox_runs")
        where = "postgresql://"
    with pytest.raises(StoreError, match="putting an inbox item failed") as caught:
        store.inbox_put("k", "t", "", "r2", 6.0)
    assert where in str(caught.value)
    with pytest.raises(StoreError, match="reading the inbox failed"):
        store.inbox_get("k")
    assert _count(any_store_url) == 1  # the failed put's count was rolled back with it


def _count(url: str) -> int:
    sql = "SELECT count FROM inbox_items WHERE key = 'k'"
    if url.startswith("sqlite://"):
        db = sqlite3.connect(url.removeprefix("sqlite://"))
        try:
            return int(db.execute(sql).fetchone()[0])
        finally:
            db.close()
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def test_placeholders_become_pyformat_outside_literals() -> None:
    assert pyformat("a = ? AND b IN (?, ?)") == "a = %s AND b IN (%s, %s)"
    assert pyformat("x = '?' AND y LIKE 'a%' AND z = ?") == "x = '?' AND y LIKE 'a%%' AND z = %s"
    assert pyformat("s = 'it''s ?' OR t = ?") == "s = 'it''s ?' OR t = %s"
    assert marks(("a", "b")) == "?, ?"
    with pytest.raises(ValueError, match="IN"):
        marks(())
