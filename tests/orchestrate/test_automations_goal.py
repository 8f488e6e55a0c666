"""An automation with ``verify:`` is a goal run: the command decides, never the model's claim."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tether.orchestrate import Automation, Every, Inbox, Scheduler, automation_runner, history
from tether.store import open_store
from tether.testing import ScriptedModel, call, reply

T0 = datetime(2026, 6, 1, tzinfo=UTC).timestamp()

pytest.importorskip("pydantic_ai")


def repo(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "README.md").write_text("x\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    return root


def nightly(cwd: Path) -> Automation:
    return Automation(
        "make-done",
        Every(3600.0),
        "create done.txt",
        cwd=cwd,
        goal="done.txt exists",
        verify="test -f done.txt",
        created_s=T0 - 1,
    )


def test_a_goal_automation_is_met_only_when_its_command_passes(home: Path, tmp_path: Path) -> None:
    root = repo(tmp_path)
    model = ScriptedModel(
        [reply(tool_calls=[call("write_file", path="done.txt", content="ok")]), reply("done")]
    )
    store = open_store(home)
    runner = automation_runner(home, store, llm=model)
    sched = Scheduler(store, [nightly(root)], runner, clock=lambda: T0 + 0.5)
    [(_, status)] = sched.tick()
    assert status == "ran"
    [row] = history(store, "make-done")
    assert row.status == "ran"
    assert (root / "done.txt").exists()


def test_a_worker_that_only_claims_success_fails_the_slot(home: Path, tmp_path: Path) -> None:
    root = repo(tmp_path)
    model = ScriptedModel([reply("All done, done.txt exists now!")] * 6)
    store = open_store(home)
    runner = automation_runner(home, store, llm=model)
    sched = Scheduler(store, [nightly(root)], runner, clock=lambda: T0 + 0.5)
    [(_, status)] = sched.tick()
    assert status == "failed"
    assert not (root / "done.txt").exists()
    [row] = history(store, "make-done")
    assert row.reason.startswith("GOAL_NOT_MET") and "verifier failed" in row.reason
    [item] = Inbox(store).list()
    assert "make-done" in item.key
