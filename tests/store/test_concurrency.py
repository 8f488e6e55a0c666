"""Several real processes sharing one home: exact counts, whole JSON lines.

Each worker is a separate Python process running a small script; they wait
at a start line (a file the test creates once every worker is ready) so that
their writes really overlap.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.helpers import write_action, write_rule
from tether import Tether
from tether.store.sqlite import SQLiteStore

WORKERS = 4
ROUNDS = 25

START_LINE = """
import pathlib, sys, time
ready, go = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
ready.touch()
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("never started")
    time.sleep(0.001)
"""


def run_workers(tmp_path: Path, body: str, args: list[list[str]]) -> list[str]:
    """Start one process per ``args`` entry running ``START_LINE + body``; all go at once."""
    script = tmp_path / "worker.py"
    script.write_text(START_LINE + body)
    gate = tmp_path / "gate"
    gate.mkdir(exist_ok=True)
    go = gate / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = []
    for n, extra in enumerate(args):
        ready = gate / f"ready-{n}"
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(ready), str(go), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        ))  # fmt: skip
    deadline = time.monotonic() + 60
    while not all((gate / f"ready-{n}").exists() for n in range(len(args))):
        assert time.monotonic() < deadline, "workers never became ready"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.005)
    go.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out)
    return outputs


def test_concurrent_record_outcome_counts_are_exact(tmp_path: Path) -> None:
    db = tmp_path / "home" / "tether.db"
    SQLiteStore(db).rule_stats()  # created first: a new file's first open is tested below
    body = """
from tether.store.sqlite import SQLiteStore
db, me, rounds = sys.argv[3], sys.argv[4], int(sys.argv[5])
store = SQLiteStore(db)
for i in range(rounds):
    store.record_outcome("shared", "failure" if i % 5 == 0 else "success")
    store.record_outcome("own-" + me, "success")
store.close()
print("done")
"""
    outputs = run_workers(tmp_path, body, [[str(db), str(n), str(ROUNDS)] for n in range(WORKERS)])
    assert outputs == ["done\n"] * WORKERS

    store = SQLiteStore(db)
    stats = {s.rule: (s.hits, s.successes, s.failures) for s in store.rule_stats()}
    store.close()
    total = WORKERS * ROUNDS
    assert stats.pop("shared") == (total, total * 4 // 5, total // 5)
    assert stats == {f"own-{n}": (ROUNDS, ROUNDS, 0) for n in range(WORKERS)}


def shared_home(home: Path) -> None:
    """A home whose one rule fixes ``cat: NAME: No such file`` with an action file."""
    (home / "config.yaml").write_text("engine:\n  starter_rules: false\n")
    write_rule(
        home,
        "create-missing",
        """\
name: create-missing
when:
  - fact: stderr
    regex: "cat: (?P<path>[^:]+): No such file or directory"
then:
  - action: create_file
    params:
      path: "{path}"
""",
    )
    write_action(
        home,
        "files",
        """\
from pathlib import Path

from tether import action


@action("create_file")
def create_file(path: str) -> str:
    Path(path).write_text("made\\n")
    return path
""",
    )


def test_concurrent_recoveries_keep_exact_stats_and_whole_observation_lines(
    tmp_path: Path, home: Path
) -> None:
    shared_home(home)
    Tether(home).stats()  # the store exists before the workers start
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
t.close()
print("recovered", rounds)
"""
    args = [[str(home), str(tmp_path / f"work-{n}"), f"marker-{n}", str(ROUNDS)]
            for n in range(WORKERS)]  # fmt: skip
    outputs = run_workers(tmp_path, body, args)
    assert outputs == [f"recovered {ROUNDS}\n"] * WORKERS

    total = WORKERS * ROUNDS
    [stats] = Tether(home).stats()
    assert (stats.rule, stats.hits, stats.successes, stats.failures) == (
        "create-missing", total, total, 0
    )  # fmt: skip
    raw = (home / "observations.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.decode("utf-8").split("\n")[:-1]
    assert len(lines) == total
    records = [json.loads(line) for line in lines]  # every line is whole, valid JSON
    assert Counter(r["target"] for r in records) == {
        f"cat marker-{n}": ROUNDS for n in range(WORKERS)
    }
    assert {(r["rule"], r["outcome"], r["depth"]) for r in records} == {
        ("create-missing", "success", 1)
    }


def test_concurrent_large_observation_lines_never_interleave(tmp_path: Path, home: Path) -> None:
    size = 64 * 1024  # far beyond PIPE_BUF: one write per line is not enough on its own
    body = """
from pathlib import Path
from tether.store.observations import append_observation
path, me, rounds, size = Path(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
for i in range(rounds):
    append_observation(path, {"worker": me, "n": i, "payload": me * size})
"""
    path = home / "observations.jsonl"
    letters = "abcd"
    run_workers(tmp_path, body, [[str(path), letters[n], str(ROUNDS), str(size)]
                                 for n in range(WORKERS)])  # fmt: skip

    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == WORKERS * ROUNDS
    seen = set()
    for line in lines:
        record = json.loads(line)
        assert record["payload"] == record["worker"] * size
        seen.add((record["worker"], record["n"]))
    assert seen == {(letters[w], n) for w in range(WORKERS) for n in range(ROUNDS)}


def test_opening_a_new_store_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    db_path = tmp_path / "home" / "tether.db"
    db_path.parent.mkdir()
    # another process's connection is in the middle of its first write to the new file
    other = sqlite3.connect(db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute(
        "CREATE TABLE IF NOT EXISTS _tether_migrations (name TEXT PRIMARY KEY, applied_utc TEXT)"
    )
    code = (
        "import sys\n"
        "from tether.store.sqlite import SQLiteStore\n"
        "SQLiteStore(sys.argv[1]).record_outcome('r', 'success')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(db_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        time.sleep(1.0)  # the writer holds on for a second, well within BUSY_TIMEOUT_S
    finally:
        other.execute("COMMIT")
        other.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    store = SQLiteStore(db_path)
    assert [(s.rule, s.hits) for s in store.rule_stats()] == [("r", 1)]
    store.close()
