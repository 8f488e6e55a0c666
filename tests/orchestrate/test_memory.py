"""Task memory: verified statuses, bounded prompt text, and 8 processes recording at once (the
store tests on both backends, see ``any_store_url`` in conftest)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tether.orchestrate import AgentRun, Memory, Project, task_key
from tether.orchestrate.memory import MAX_MEMORY_BYTES
from tether.store import open_store
from tether.testing import ScriptedModel, reply

SRC = Path(__file__).resolve().parents[2] / "src"


def test_task_keys_are_stable_and_ignore_case_and_spacing() -> None:
    a = task_key("Fix the  flaky test\nin ci")
    assert a == task_key("fix the flaky test in CI")
    assert a.startswith("fix-the-flaky-test-in-ci-")
    assert a != task_key("fix the flaky test in cd")
    assert task_key("???").startswith("task-")


def test_record_show_and_reset(any_store_url: str) -> None:
    clock = iter(range(1000, 2000)).__next__
    memory = Memory(open_store(url=any_store_url), clock=lambda: float(clock()))
    memory.record("k", run_id="r1", status="NO_PROGRESS", reason="loop", title="do k\nmore")
    memory.record("k", run_id="r2", status="GOAL_MET", reason="pytest exit 0", kind="goal")
    memory.record("other", run_id="r3", status="SUCCESS")
    tasks = memory.tasks()
    assert [t.task_key for t in tasks] == ["other", "k"]
    k = memory.tasks("k")[0]
    assert (k.status, k.runs, k.last_run_id, k.title) == ("GOAL_MET", 2, "r2", "do k")
    assert [r["run_id"] for r in k.history] == ["r2", "r1"]
    assert memory.reset("k") == 1
    assert [t.task_key for t in memory.tasks()] == ["other"]
    assert memory.reset() == 1 and memory.tasks() == []


def test_prompt_text_is_task_scoped_and_bounded(home: Path) -> None:
    memory = Memory(open_store(home))
    for i in range(40):
        memory.record("big", run_id=f"r{i}", status="NO_PROGRESS", reason="x" * 400)
    memory.record("secret-other", run_id="o", status="SUCCESS", reason="OTHER TASK")
    text = memory.prompt_text("big")
    assert 0 < len(text.encode()) <= MAX_MEMORY_BYTES
    assert "OTHER TASK" not in text and "statuses are verified" in text
    assert memory.prompt_text("unknown") == ""


def _project(tmp_path: Path, home: Path) -> Project:
    root = tmp_path / "proj"
    root.mkdir(exist_ok=True)
    return Project.at(root, home=home)


def test_memory_reaches_the_prompt_only_when_asked(tmp_path: Path, home: Path) -> None:
    project = _project(tmp_path, home)
    store = open_store(home)
    Memory(store).record("t", run_id="old", status="NO_PROGRESS", reason="EARLIER ATTEMPT")
    without = ScriptedModel([reply("ok")])
    AgentRun("p", project=project, model=without, task="t").run(store)
    assert "EARLIER ATTEMPT" not in str(without.requests[0].messages)
    with_memory = ScriptedModel([reply("ok")])
    AgentRun("p", project=project, model=with_memory, task="t", memory=True).run(store)
    assert "EARLIER ATTEMPT" in str(with_memory.requests[0].messages)
    # each run recorded its loop status
    assert Memory(store).tasks("t")[0].runs == 3


def test_a_dry_run_records_nothing(tmp_path: Path, home: Path) -> None:
    project = _project(tmp_path, home)
    model = ScriptedModel([])
    plan = AgentRun("p", project=project, model=model, task="t").plan()
    assert plan.task_key == "t" and model.requests == []
    assert Memory(open_store(home)).tasks() == []
    assert not (home / "traces").exists()


RECORDER = """
import sys
from tether.orchestrate import Memory
from tether.store import open_store
home, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
memory = Memory(open_store(home))
for i in range(n):
    memory.record("shared", run_id=f"{who}-{i}", status="SUCCESS", reason=who)
    memory.record(f"own-{who}", run_id=f"{who}-own-{i}", status="SUCCESS")
"""


def test_eight_processes_recording_at_once_lose_nothing(tmp_path: Path, any_store_url: str) -> None:
    n = 25
    homes = [tmp_path / f"home-{i}" for i in range(8)]  # each configured for the shared store
    for home in homes:
        home.mkdir()
        (home / "config.yaml").write_text(f"store: '{any_store_url}'\n")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RECORDER, str(home), f"p{i}", str(n)],
            env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        )
        for i, home in enumerate(homes)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    memory = Memory(open_store(url=any_store_url))
    shared = memory.tasks("shared", history=1000)[0]
    assert shared.runs == 8 * n and len(shared.history) == 8 * n
    assert len(memory.tasks()) == 9
    assert all(t.runs == n for t in memory.tasks() if t.task_key.startswith("own-"))
