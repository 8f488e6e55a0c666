"""A fleet on one machine: real processes on two homes sharing one real PostgreSQL database.

Workers start together at a start line (see ``test_concurrency.run_workers``), on a schema
no process has migrated yet, so the first opens race on the migrations too.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.store.test_concurrency import run_workers, shared_home
from tether.store.migrations import MIGRATIONS
from tether.store.postgres import PostgresStore

pytestmark = pytest.mark.fleet

PROCESSES = 8
ROUNDS = 12


def test_eight_processes_on_two_homes_lose_no_count_and_no_observation(
    tmp_path: Path, pg_url: str
) -> None:
    homes = [tmp_path / "home-a", tmp_path / "home-b"]
    for home in homes:
        home.mkdir()
        shared_home(home)
        (home / "config.yaml").write_text(f"engine:\n  starter_rules: false\nstore: '{pg_url}'\n")
    body = """
from pathlib import Path
from tether import Tether
home, work, name, rounds = sys.argv[3], Path(sys.argv[4]), sys.argv[5], int(sys.argv[6])
work.mkdir(parents=True, exist_ok=True)
t = Tether(home, sleep=lambda s: None)
for _ in range(rounds):
    (work / name).unlink(missing_ok=True)
    result, outcome = t.run_command(["cat", name], cwd=work, stream=False)
    assert result.exit_code == 0 and result.stdout == "made\\n", result
    assert outcome is not None and outcome.recovered, outcome
t.store.record_outcome("own-" + name, "success")
print(type(t.store).__name__, rounds)
t.close()
"""
    args = [
        [str(homes[n % 2]), str(tmp_path / f"work-{n}"), f"marker-{n}", str(ROUNDS)]
        for n in range(PROCESSES)
    ]
    outputs = run_workers(tmp_path, body, args)
    assert outputs == [f"PostgresStore {ROUNDS}\n"] * PROCESSES

    store = PostgresStore(pg_url)
    stats = {s.rule: (s.hits, s.successes, s.failures) for s in store.rule_stats()}
    store.close()
    total = PROCESSES * ROUNDS
    assert stats.pop("create-missing") == (total, total, 0)
    assert stats == {f"own-marker-{n}": (1, 1, 0) for n in range(PROCESSES)}
    for index, home in enumerate(homes):  # observations stay in each home, whole lines
        records = [
            json.loads(line) for line in (home / "observations.jsonl").read_text().splitlines()
        ]
        assert Counter(r["target"] for r in records) == {
            f"cat marker-{n}": ROUNDS for n in range(index, PROCESSES, 2)
        }
        assert not (home / "tether.db").exists() or _no_stats_in(home / "tether.db")


def _no_stats_in(path: Path) -> bool:
    """The home's own file (the local rule cache) holds no rule statistics."""
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM rule_stats").fetchone() == (0,)
    finally:
        db.close()


def test_eight_store_processes_count_exactly_and_migrate_once(tmp_path: Path, pg_url: str) -> None:
    body = """
from tether.store.postgres import PostgresStore
url, me, rounds = sys.argv[3], sys.argv[4], int(sys.argv[5])
store = PostgresStore(url)
for i in range(rounds):
    store.record_outcome("shared", "failure" if i % 4 == 0 else "success")
store.record_outcome("own-" + me, "success")
store.close()
print("done")
"""
    rounds = 50
    outputs = run_workers(tmp_path, body, [[pg_url, str(n), str(rounds)] for n in range(PROCESSES)])
    assert outputs == ["done\n"] * PROCESSES

    import psycopg

    store = PostgresStore(pg_url)
    stats = {s.rule: (s.hits, s.successes, s.failures) for s in store.rule_stats()}
    store.close()
    total, failed = PROCESSES * rounds, PROCESSES * len(range(0, rounds, 4))
    assert stats.pop("shared") == (total, total - failed, failed)
    assert stats == {f"own-{n}": (1, 1, 0) for n in range(PROCESSES)}
    with psycopg.connect(pg_url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM _tether_migrations")]
    assert sorted(names) == sorted(step.__name__ for step in MIGRATIONS)  # each once


def test_an_approval_decided_on_one_host_is_seen_decided_and_used_on_another(
    tmp_path: Path, pg_url: str
) -> None:
    issue = """
from tether.loop.approval import ApprovalRequest, HeadlessApproval
url = sys.argv[3]
pending = HeadlessApproval(store=url).issue("/runs/paused", [ApprovalRequest("rm", {"path": "x"}, "why")])
print(pending["token"], pending["store"])
"""
    [line] = run_workers(tmp_path, issue, [[pg_url]])
    token, recorded = line.split()
    assert recorded == pg_url  # the pending record names the shared store

    decide = """
from tether.loop.approval import ApprovalError, decide
from tether.store import open_store
url, token, step = sys.argv[3], sys.argv[4], sys.argv[5]
if step == "approve":
    print(decide(url, token, True, note="from host A")["status"])
else:
    store = open_store(url=url)
    row = store.get_approval(token)
    used = store.set_approval_status(token, "used", when=("approved",), now_s=row["decided_s"] + 1)
    try:
        decide(url, token, False)
    except ApprovalError as exc:
        print(row["status"], row["note"].replace(" ", "_"), used, exc)
"""
    (tmp_path / "gate").rename(tmp_path / "gate-1")
    [approved] = run_workers(tmp_path, decide, [[pg_url, token, "approve"]])
    assert approved == "approved\n"
    (tmp_path / "gate").rename(tmp_path / "gate-2")
    [seen] = run_workers(tmp_path, decide, [[pg_url, token, "use"]])
    assert seen.startswith("approved from_host_A True ")
    assert "is already used" in seen

    store = PostgresStore(pg_url)
    assert store.pending_approvals() == []
    row = store.get_approval(token)
    assert row is not None and row["status"] == "used"
    store.close()


def test_two_deciding_processes_exactly_one_wins_each_token(tmp_path: Path, pg_url: str) -> None:
    tokens = [f"apv_{i}" for i in range(40)]
    store = PostgresStore(pg_url)
    for t in tokens:
        store.add_approval(t, "/runs/s", {"requests": []}, 1.0, 2e9)
    body = """
from tether.loop.approval import ApprovalError, decide
url, me, tokens = sys.argv[3], sys.argv[4], sys.argv[5].split(",")
won = []
for t in tokens:
    try:
        decide(url, t, me == "a", note=me)
        won.append(t)
    except ApprovalError:
        pass
print(",".join(won))
"""
    outputs = run_workers(tmp_path, body, [[pg_url, me, ",".join(tokens)] for me in "ab"])
    won = [set(filter(None, out.strip().split(","))) for out in outputs]
    assert won[0] | won[1] == set(tokens) and not won[0] & won[1]
    for t in tokens:
        row = store.get_approval(t)
        assert row is not None
        assert (row["status"], row["note"]) == (
            ("approved", "a") if t in won[0] else ("denied", "b")
        )
    store.close()
