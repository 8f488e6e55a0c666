"""The regulator inside the governed loop (scripted model, real tools)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.loop import Loop, LoopStatus
from tether.regulator import LLMEvent, Regulator, RegulatorPolicy
from tether.testing import ScriptedModel, call, reply
from tether.tools import builtin_tools

pytest.importorskip("pydantic_ai")


def test_a_tool_loop_within_one_turn_stops_the_run_with_the_suggestion(tmp_path: Path) -> None:
    files = [tmp_path / f"f{i}.txt" for i in range(6)]
    for f in files:
        f.write_text("x")
    burst = [call("read_file", path=str(f)) for f in files]  # same tool six times in one turn
    model = ScriptedModel([reply(tool_calls=burst), reply("never reached")])
    policy = RegulatorPolicy(Regulator.for_user("u1"))
    result = Loop("read the files", builtin_tools(), model, policies=[policy], quiet=True).run()
    assert result.status is LoopStatus.NO_PROGRESS
    assert "repeated_tool_call_loop" in result.reason
    assert policy.decisions[-1] == "circuit_break"
    assert len(model.requests) == 1


def test_an_ab_cycle_across_turns_is_caught(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("A")
    b.write_text("B")
    script = [reply(tool_calls=[call("read_file", path=str(p))]) for p in (a, b) * 6]
    model = ScriptedModel(script)
    policy = RegulatorPolicy(Regulator.for_user("u2"))
    result = Loop("g", builtin_tools(), model, policies=[policy], quiet=True).run()
    assert result.status is LoopStatus.NO_PROGRESS
    assert "regulator" in result.reason
    assert "tool_loop_warn" in policy.decisions  # a warning came before the halt
    assert len(model.requests) < 12


def test_learned_corrections_reach_the_next_prompt() -> None:
    regulator = Regulator.for_user("u3")
    goal = "Refactor the fetch_user database function"
    for _ in range(3):  # the user corrected the same thing on this topic three times before
        regulator.on_event(LLMEvent.turn_start(goal))
        regulator.on_event(LLMEvent.turn_complete("refactored fetch_user database function"))
        regulator.on_event(LLMEvent.user_correction("do not add error handling"))

    def look() -> str:
        """Look at the code."""
        return "def fetch_user(): ..."

    model = ScriptedModel([reply(tool_calls=[call("look")]), reply("done")])
    result = Loop(goal, [look], model, policies=[RegulatorPolicy(regulator)], quiet=True).run()
    assert result.status is LoopStatus.SUCCESS
    assert "do not add error handling" in model.requests[1].last_user_text
