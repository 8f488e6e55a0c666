"""The default run of an automation is a governed Loop over the workspace tools."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tether.orchestrate import (
    Automation,
    AutomationBudget,
    Every,
    Inbox,
    Scheduler,
    history,
    loop_runner,
)
from tether.store import open_store
from tether.testing import ScriptedModel, call, reply

T0 = datetime(2026, 6, 1, tzinfo=UTC).timestamp()

pytest.importorskip("pydantic_ai")


def test_a_slot_runs_a_loop_that_writes_in_the_project_without_run_command(
    home: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    model = ScriptedModel(
        [
            reply(
                tool_calls=[call("write_file", path="notes.md", content="ok\n")], usage=(100, 20)
            ),
            reply("wrote notes.md", usage=(120, 10)),
        ]
    )
    a = Automation("notes", Every(3600.0), "write notes.md", cwd=project, created_s=T0 - 1)
    store = open_store(home)
    sched = Scheduler(store, [a], loop_runner(home, llm=model), clock=lambda: T0 + 0.5)
    [(slot, status)] = sched.tick()
    assert status == "ran"
    assert (project / "notes.md").read_text() == "ok\n"
    assert "run_command" not in model.requests[0].tools  # not advertised without allow_commands
    assert "write_file" in model.requests[0].tools
    [row] = history(store, "notes")
    assert row.run_id == slot.run_id and row.tokens == 250
    assert (home / "traces" / f"{slot.run_id}.jsonl").exists()  # tether explain reads it


def test_allow_commands_gives_run_command(home: Path, tmp_path: Path) -> None:
    model = ScriptedModel([reply("nothing to do")])
    a = Automation(
        "cmds", Every(3600.0), "look", cwd=tmp_path, allow_commands=True, created_s=T0 - 1
    )
    Scheduler(open_store(home), [a], loop_runner(home, llm=model), clock=lambda: T0 + 0.5).tick()
    assert "run_command" in model.requests[0].tools


def test_a_run_that_hits_its_ceiling_is_failed_with_one_inbox_item(
    home: Path, tmp_path: Path
) -> None:
    turns = [reply(tool_calls=[call("list_files", path=".")], usage=(50, 5))] * 10
    a = Automation(
        "loopy",
        Every(3600.0),
        "look around",
        cwd=tmp_path,
        max_iterations=2,
        created_s=T0 - 1,
        budget=AutomationBudget(window_s=86400.0, tokens=10_000),
    )
    store = open_store(home)
    for h in range(2):
        model = ScriptedModel(list(turns))
        clock = T0 + h * 3600 + 0.5
        Scheduler(store, [a], loop_runner(home, llm=model), clock=lambda c=clock: c).tick()  # type: ignore[misc]
    rows = history(store, "loopy")
    assert [r.status for r in rows] == ["failed", "failed"]
    assert rows[0].reason.startswith("BUDGET_EXHAUSTED")
    [item] = Inbox(store).list()
    assert item.key == "automation:loopy:BUDGET_EXHAUSTED" and item.count == 2
    assert set(item.run_ids) == {r.run_id for r in rows}
