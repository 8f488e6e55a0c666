"""Every Store method on both backends (SQLite file, real PostgreSQL), and PostgreSQL's bad input.

The PostgreSQL cases need a server (``pg_url`` in conftest: skipped locally without one,
a failure under ``CI=true``); each test gets its own schema.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tether.errors import ConfigError, StoreError
from tether.store import Store, open_store, open_store_or_local
from tether.store.migrations import MIGRATIONS
from tether.store.postgres import PostgresStore, mask_url
from tether.store.sqlite import SQLiteStore

MakeStore = Callable[[], Store]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.fleet)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    """Opens another store object on the same database, as another process would."""
    opened: list[Store] = []
    if request.param == "sqlite":

        def make() -> Store:
            opened.append(SQLiteStore(tmp_path / "tether.db"))
            return opened[-1]
    else:
        url = request.getfixturevalue("pg_url")

        def make() -> Store:
            opened.append(PostgresStore(url, rule_cache=SQLiteStore(tmp_path / "local.db")))
            return opened[-1]

    yield make
    for store in opened:
        store.close()


def test_outcomes_are_counted_and_listed_most_used_first(make_store: MakeStore) -> None:
    store = make_store()
    assert store.rule_stats() == []
    for outcome in ("success", "failure", "success"):
        store.record_outcome("b-rule", outcome)
    store.record_outcome("a-rule", "failure")
    store.record_outcome("c-rule", "success")
    with pytest.raises(ValueError, match="'maybe'"):
        store.record_outcome("b-rule", "maybe")

    stats = make_store().rule_stats()
    assert [(s.rule, s.hits, s.successes, s.failures, s.last_outcome) for s in stats] == [
        ("b-rule", 3, 2, 1, "success"),
        ("a-rule", 1, 0, 1, "failure"),
        ("c-rule", 1, 1, 0, "success"),
    ]
    assert all(s.last_used_utc and s.last_used_utc.endswith("+00:00") for s in stats)


def test_the_rule_cache_round_trips_and_prunes(make_store: MakeStore) -> None:
    store = make_store()
    assert store.get_many([]) == {}
    store.put_many([("/r/a.yaml", 1, 10, [{"name": "a"}]), ("/r/b.yaml", 2, 20, [])])
    store.put_many([("/r/sub/c.yaml", 3, 30, [{"x": [1]}])])
    assert store.get_many(["/r/a.yaml", "/r/sub/c.yaml", "/r/none.yaml"]) == {
        "/r/a.yaml": (1, 10, [{"name": "a"}]),
        "/r/sub/c.yaml": (3, 30, [{"x": [1]}]),
    }
    assert store.prune_rule_cache(["/r/"], keep=["/r/a.yaml"]) == 1  # b went; sub/ is not in /r/
    assert set(make_store().get_many(["/r/a.yaml", "/r/b.yaml", "/r/sub/c.yaml"])) == {
        "/r/a.yaml",
        "/r/sub/c.yaml",
    }


@pytest.mark.fleet
def test_a_postgres_store_opened_by_url_alone_caches_no_rules(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    store.put_many([("/r/a.yaml", 1, 10, [])])
    assert store.get_many(["/r/a.yaml"]) == {}
    assert store.prune_rule_cache(["/r/"], keep=[]) == 0
    store.close()


def test_regulator_state_is_kept_per_user_with_optimistic_versions(make_store: MakeStore) -> None:
    store, other = make_store(), make_store()
    assert store.load_regulator_state("alice") is None
    assert store.load_regulator_state_versioned("alice") is None
    assert store.save_regulator_state("alice", '{"v": 1}') is True
    store.save_regulator_state("bob", '{"v": "b"}')
    assert other.load_regulator_state_versioned("alice") == ('{"v": 1}', 1)

    # both read version 1; the first save wins, the second finds it moved and changes nothing
    assert store.save_regulator_state("alice", '{"v": 2}', expected_version=1) is True
    assert other.save_regulator_state("alice", '{"v": "lost"}', expected_version=1) is False
    assert other.load_regulator_state_versioned("alice") == ('{"v": 2}', 2)
    # 0 means "nothing saved yet"
    assert other.save_regulator_state("alice", "{}", expected_version=0) is False
    assert other.save_regulator_state("carol", '{"c": 1}', expected_version=0) is True
    # unconditional saves still replace, and count
    assert store.save_regulator_state("alice", '{"v": 3}') is True
    assert make_store().load_regulator_state_versioned("alice") == ('{"v": 3}', 3)
    assert make_store().load_regulator_state("bob") == '{"v": "b"}'
    assert make_store().load_regulator_state("dave") is None


def test_approvals_are_recorded_listed_and_decided_once(make_store: MakeStore) -> None:
    store, other = make_store(), make_store()
    store.add_approval("apv_2", "/runs/b", {"requests": [{"tool": "rm"}]}, 20.5, 80.0)
    store.add_approval("apv_1", "/runs/a", {"requests": []}, 10.25, 70.0)
    assert store.get_approval("apv_none") is None
    assert other.get_approval("apv_2") == {
        "token": "apv_2",
        "state_path": "/runs/b",
        "request": {"requests": [{"tool": "rm"}]},
        "status": "pending",
        "created_s": 20.5,
        "expires_s": 80.0,
        "decided_s": None,
        "note": "",
    }
    assert [a["token"] for a in other.pending_approvals()] == ["apv_1", "apv_2"]  # oldest first

    assert other.set_approval_status("apv_1", "approved", note="ok", now_s=30.0) is True
    assert store.set_approval_status("apv_1", "denied", now_s=31.0) is False  # single use
    row = store.get_approval("apv_1")
    assert row is not None and (row["status"], row["decided_s"], row["note"]) == (
        "approved",
        30.0,
        "ok",
    )
    assert [a["token"] for a in store.pending_approvals()] == ["apv_2"]
    # the run consumes its approval: from any of several statuses, once
    when = ("pending", "approved", "denied")
    assert store.set_approval_status("apv_1", "used", when=when, now_s=32.0) is True
    assert other.set_approval_status("apv_1", "used", when=when, now_s=33.0) is False
    assert store.set_approval_status("apv_unknown", "approved", now_s=1.0) is False


def test_two_deciders_at_once_exactly_one_wins(make_store: MakeStore) -> None:
    first, second = make_store(), make_store()
    tokens = [f"apv_{i}" for i in range(30)]
    for t in tokens:
        first.add_approval(t, "/runs/s", {}, 1.0, 2e9)
    wins: dict[str, list[str]] = {t: [] for t in tokens}
    barrier = threading.Barrier(2)

    def decider(store: Store, name: str) -> None:
        barrier.wait()
        for t in tokens:
            if store.set_approval_status(t, "approved", now_s=5.0):
                wins[t].append(name)

    threads = [
        threading.Thread(target=decider, args=(s, n)) for s, n in ((first, "a"), (second, "b"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(w) == 1 for w in wins.values()), wins


# -- PostgreSQL: bad input, migrations, selection -----------------------------------------------


def test_mask_url_hides_passwords_only() -> None:
    assert mask_url("postgresql://ci:s3cr%40t@db:5432/t?sslmode=require") == (
        "postgresql://ci:***@db:5432/t?sslmode=require"
    )
    assert mask_url("postgresql://db/t?user=ci&password=hunter2") == (
        "postgresql://db/t?user=ci&password=***"
    )
    assert mask_url("postgresql://ci@db/t") == "postgresql://ci@db/t"


def test_an_unreachable_database_fails_at_open_naming_the_url_without_its_password() -> None:
    port = _free_port()
    store = PostgresStore(f"postgresql://ci:hunter2@127.0.0.1:{port}/tether")
    with pytest.raises(StoreError) as caught:
        store.open()
    message = str(caught.value)
    assert f"postgresql://ci:***@127.0.0.1:{port}/tether" in message
    assert "hunter2" not in message
    assert "cannot open the PostgreSQL store" in message
    with pytest.raises(StoreError, match=r"\*\*\*"):  # first use fails the same way
        store.record_outcome("r", "success")


def test_a_run_falls_back_to_the_homes_file_with_one_warning(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_STORE_URL", f"postgresql://ci:hunter2@127.0.0.1:{_free_port()}/t")
    warnings: list[str] = []
    store = open_store_or_local(home, warn=warnings.append)
    assert isinstance(store, SQLiteStore) and store.path == home / "tether.db"
    store.record_outcome("r", "success")
    store.close()
    [warning] = warnings
    assert "ci:***@127.0.0.1" in warning and "hunter2" not in warning
    assert str(home / "tether.db") in warning

    monkeypatch.setenv("TETHER_STORE_URL", "mysql://ci:hunter2@db/t")
    warnings.clear()
    assert isinstance(open_store_or_local(home, warn=warnings.append), SQLiteStore)
    [warning] = warnings
    assert "'mysql'" in warning and "hunter2" not in warning


def test_an_unknown_configured_scheme_names_the_config_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TETHER_STORE_URL", raising=False)
    (home / "config.yaml").write_text("store: 'mysql://ci:hunter2@db/t'\n")
    with pytest.raises(ConfigError) as caught:
        open_store(home)
    assert str(home / "config.yaml") in str(caught.value)
    assert "field 'store'" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.fleet
def test_the_store_is_chosen_by_config_then_environment(
    pg_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TETHER_STORE_URL", raising=False)
    assert isinstance(open_store(home), SQLiteStore)
    (home / "config.yaml").write_text(f"store: '{pg_url}'\n")
    chosen = open_store(home)
    assert isinstance(chosen, PostgresStore) and chosen.url == pg_url
    assert isinstance(chosen.rule_cache, SQLiteStore)
    assert chosen.rule_cache.path == home / "tether.db"  # the rule cache stays local
    chosen.record_outcome("shared", "success")
    chosen.close()

    for other in ("engine:\n  max_retries: 2\n", "store: ''\n", "store: [broken\n"):
        (home / "config.yaml").write_text(other)
        assert isinstance(open_store(home), SQLiteStore), other
    monkeypatch.setenv("TETHER_STORE_URL", pg_url)
    via_env = open_store_or_local(home, warn=pytest.fail)
    assert [s.rule for s in via_env.rule_stats()] == ["shared"]
    via_env.close()


@pytest.mark.fleet
def test_a_schema_from_a_newer_tether_is_refused(pg_url: str) -> None:
    import psycopg

    PostgresStore(pg_url).open()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO _tether_migrations VALUES ('m999_from_the_future', 'x')")
    store = PostgresStore(pg_url)
    with pytest.raises(StoreError, match=r"newer tether.*m999_from_the_future"):
        store.open()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM _tether_migrations ORDER BY name")]
    assert names == sorted([s.__name__ for s in MIGRATIONS] + ["m999_from_the_future"])


@pytest.mark.fleet
def test_postgres_gets_the_same_tables_with_wide_types(pg_url: str) -> None:
    import psycopg

    PostgresStore(pg_url).open()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        ).fetchall()
    types = {(table, column): kind for table, column, kind in rows}
    assert {t for t, _ in types} == {
        "_tether_migrations",
        "approvals",
        "automation_slots",
        "inbox_items",
        "inbox_runs",
        "regulator_state",
        "rule_cache",
        "rule_stats",
        "task_runs",
        "tasks",
    }
    assert types["rule_cache", "mtime_ns"] == "bigint"  # nanoseconds overflow a 4-byte int
    assert types["approvals", "created_unix_s"] == "double precision"  # not a 4-byte float
    assert types["regulator_state", "version"] == "bigint"
    assert types["automation_slots", "slot_unix_s"] == "double precision"
    assert types["inbox_runs", "item_id"] == types["inbox_items", "id"] == "bigint"
    with psycopg.connect(pg_url) as conn:
        identity = conn.execute(
            "SELECT column_name, is_identity, identity_generation FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'inbox_items' "
            "AND column_name = 'id'"
        ).fetchall()
    assert identity == [("id", "YES", "BY DEFAULT")]  # SQLite's AUTOINCREMENT, as an identity


def test_importing_the_store_modules_does_not_load_psycopg() -> None:
    code = (
        "import sys, tether, tether.store, tether.store.postgres\n"
        "from tether.store import open_store\n"
        "open_store(url='sqlite:///tmp/x.db')\n"
        "print(','.join(m for m in sys.modules if m.startswith('psycopg')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
