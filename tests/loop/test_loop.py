"""The governed loop, driven by a scripted model and real tools (files, subprocesses)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tether.llm import LLM
from tether.loop import Loop, LoopStatus, MetricSnapshot, NoProgress
from tether.testing import ScriptedModel, call, rejected, reply
from tether.tools import Workspace, builtin_tools

pytest.importorskip("pydantic_ai")


def _tool_returns(messages: list[Any]) -> str:
    return "\n".join(
        str(part.content)
        for message in messages
        for part in getattr(message, "parts", [])
        if getattr(part, "part_kind", "") == "tool-return"
    )


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_final_answer_without_metric_is_success_and_traced(tmp_path: Path) -> None:
    model = ScriptedModel([
        reply(tool_calls=[call("list_directory", path=str(tmp_path))], usage=(100, 10)),
        reply("nothing to fix", usage=(150, 5)),
    ])  # fmt: skip
    trace = tmp_path / "trace.jsonl"
    result = Loop("look around", builtin_tools(), model, trace_path=str(trace), quiet=True).run()
    assert result.status is LoopStatus.SUCCESS
    assert result.text == "nothing to fix"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (250, 15)
    names = [e["event"] for e in _events(trace)]
    assert names[0] == "loop.start" and names[-1] == "loop.end"
    assert names.count("llm.call") == 2 and "tool.result" in names


def test_token_ceiling_counts_the_next_calls_input_before_making_it(tmp_path: Path) -> None:
    model = ScriptedModel([reply("x")])
    goal = "fix everything " * 200  # about 1000 tokens of prompt by the estimate
    result = Loop(goal, builtin_tools(), model, token_limit=500, quiet=True).run()
    assert result.status is LoopStatus.BUDGET_EXHAUSTED
    assert "input tokens" in result.reason
    assert model.requests == []  # refused before spending anything


def test_max_tokens_is_clamped_to_what_is_left(tmp_path: Path) -> None:
    model = ScriptedModel([
        reply(tool_calls=[call("list_directory", path=str(tmp_path))], usage=(1500, 100)),
        reply("done"),
    ])  # fmt: skip
    Loop("g", builtin_tools(), model, token_limit=3000, max_tokens_per_call=4096, quiet=True).run()
    first, second = model.requests
    assert first.max_tokens is not None and first.max_tokens < 3000
    assert second.max_tokens is not None and second.max_tokens <= 3000 - 1600


def test_alternating_actions_end_as_no_progress(tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("A")
    b.write_text("B")
    script = [reply(tool_calls=[call("read_file", path=str(p))]) for p in (a, b, a, b, a, b)]
    model = ScriptedModel(script)
    result = Loop("g", builtin_tools(), model, quiet=True).run()
    assert result.status is LoopStatus.NO_PROGRESS
    assert "repeated" in result.reason
    assert len(model.requests) == 5  # A, B new; A, B, A repeats -> three unproductive in a row


class FileMetric:
    """Success when ``target`` exists with the wanted text; failing ids are missing names."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def measure(self, observation: Any) -> MetricSnapshot:
        done = self.target.exists() and self.target.read_text() == "ok"
        return MetricSnapshot(0.0 if done else 1.0, "present" if done else "missing",
                              frozenset() if done else {self.target.name}, success=done)  # fmt: skip


def test_goal_metric_success_ends_the_run_without_another_model_call(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.txt"
    model = ScriptedModel([reply(tool_calls=[call("write_file", path=str(target), content="ok")])])
    loop = Loop("write the result", builtin_tools(), model, quiet=True,
                observe=lambda: sorted(p.name for p in tmp_path.rglob("*")), goal_metric=FileMetric(target))  # fmt: skip
    result = loop.run()
    assert result.status is LoopStatus.SUCCESS
    assert target.read_text() == "ok"
    assert len(model.requests) == 1
    assert loop.reports[0].trend == "improved"  # credited to the iteration that wrote the file


def test_text_only_claims_cannot_end_a_run_with_a_metric(tmp_path: Path) -> None:
    target = tmp_path / "never.txt"
    model = ScriptedModel([reply("all done, trust me")] * 5)
    result = Loop("g", builtin_tools(), model, quiet=True, observe=lambda: "state",
                  goal_metric=FileMetric(target)).run()  # fmt: skip
    assert result.status is LoopStatus.NO_PROGRESS
    assert "without acting" in result.reason


def test_regression_is_identity_not_count() -> None:
    before = MetricSnapshot(1.0, failing=frozenset({"test_a"}))
    after = MetricSnapshot(1.0, failing=frozenset({"test_b"}))
    assert after.compare(before) == "regressed"
    assert MetricSnapshot(0.0).compare(before) == "improved"
    assert MetricSnapshot(1.0, failing=frozenset({"test_a"})).compare(before) == "flat"


def test_invalid_calls_after_retries_end_as_plan_failed(tmp_path: Path) -> None:
    model = ScriptedModel([reply(tool_calls=[call("no_such_tool", x=1)])] * 10)
    result = Loop("g", builtin_tools(), model, quiet=True, policies=[]).run()
    assert result.status is LoopStatus.PLAN_FAILED
    assert len(model.requests) == 4  # 3 invalid calls use the 2 corrections; the 4th in a row fails
    tool_errors = [m for m in model.requests[1].messages if "unknown_tool" in repr(m)]
    assert tool_errors  # the model was told what was wrong


def test_provider_failure_is_a_status_not_an_exception(tmp_path: Path) -> None:
    model = ScriptedModel([rejected(401, "invalid api key")])
    result = Loop("g", builtin_tools(), LLM(model), quiet=True).run()
    assert result.status is LoopStatus.ERROR
    assert "rejected" in result.reason and result.resumable


def test_usd_ceiling_on_an_unpriced_model_is_refused_up_front() -> None:
    model = ScriptedModel([reply("x")])
    result = Loop("g", [], model, cost_limit_usd=1.0, quiet=True).run()
    assert result.status is LoopStatus.ERROR
    assert "no price" in result.reason
    assert model.requests == []


def test_cut_off_answer_is_continued_not_taken_as_final() -> None:
    model = ScriptedModel([reply("first half, ", finish_reason="length"), reply("second half")])
    result = Loop("g", [], model, quiet=True).run()
    assert result.status is LoopStatus.SUCCESS
    assert result.text == "first half, second half"
    assert "cut off" in model.requests[1].last_user_text


def test_run_inside_a_tool_of_a_running_loop_is_refused(tmp_path: Path) -> None:
    inner = Loop("inner", [], ScriptedModel([reply("x")]), quiet=True)

    def start_inner() -> str:
        """Start another loop."""
        return str(inner.run().status)

    model = ScriptedModel([reply(tool_calls=[call("start_inner")]), reply("done")])
    result = Loop("outer", [start_inner], model, quiet=True).run()
    assert result.status is LoopStatus.SUCCESS
    assert "NestedLoopError" in _tool_returns(model.requests[1].messages)


def test_abort_event_stops_at_the_next_safe_point(tmp_path: Path) -> None:
    stop = threading.Event()

    def pull_the_plug() -> str:
        """Ask the run to stop."""
        stop.set()
        return "stopping"

    model = ScriptedModel([reply(tool_calls=[call("pull_the_plug")]), reply("never")])
    result = Loop("g", [pull_the_plug], model, abort=stop, quiet=True).run()
    assert result.status is LoopStatus.ABORTED and result.resumable
    assert len(model.requests) == 1


def test_wall_clock_ceiling_uses_the_injected_clock(tmp_path: Path) -> None:
    now = [0.0]

    def slow_tool() -> str:
        """Pretend ten minutes pass."""
        now[0] += 600
        return "ok"

    model = ScriptedModel([reply(tool_calls=[call("slow_tool")])] * 3)
    result = Loop("g", [slow_tool], model, wall_clock_s=900, clock=lambda: now[0], quiet=True,
                  policies=[]).run()  # fmt: skip
    assert result.status is LoopStatus.BUDGET_EXHAUSTED
    assert "wall-clock" in result.reason
    assert len(model.requests) == 2


def test_long_tool_output_keeps_its_tail(tmp_path: Path) -> None:
    script = tmp_path / "noisy.py"
    script.write_text(
        "for i in range(20000):\n    print('line', i)\nprint('FINAL: 3 failed')\nraise SystemExit(1)\n"
    )
    model = ScriptedModel([reply(tool_calls=[call("run_command", command=[sys.executable, str(script)])]),
                           reply("done")])  # fmt: skip
    Loop("g", Workspace(tmp_path).tools(), model, quiet=True).run()
    seen = _tool_returns(model.requests[1].messages)
    assert "FINAL: 3 failed" in seen and '"exit_code": 1' in seen
    assert "omitted" in seen


def test_no_progress_window_is_configurable() -> None:
    with pytest.raises(ValueError):
        NoProgress(0)
    model = ScriptedModel([reply("thinking...")] * 3)
    result = Loop("g", [], model, quiet=True, observe=lambda: "s", goal_metric=FileMetric(Path("/nonexistent")),
                  policies=[NoProgress(window=1)]).run()  # fmt: skip
    assert result.status is LoopStatus.NO_PROGRESS
    assert len(model.requests) == 1


def test_exit_tool_ends_the_run_with_its_status_and_value(tmp_path: Path) -> None:
    def give_up(reason: str) -> dict[str, str]:
        """Stop: the goal cannot be reached.

        Args:
            reason: why.
        """
        return {"gave_up": reason}

    def done(summary: str) -> str:
        """The goal is reached.

        Args:
            summary: what was done.
        """
        if not summary.strip():
            raise ValueError("say what was done")
        return summary

    model = ScriptedModel([
        reply(tool_calls=[call("done", summary=" ")]),  # fails: goes back to the model
        reply(tool_calls=[call("list_directory", path=str(tmp_path)), call("give_up", reason="no access")]),
    ])  # fmt: skip
    loop = Loop("reach it", [*builtin_tools(), give_up, done], model,
                exits={"done": "SUCCESS", "give_up": "NO_PROGRESS"}, quiet=True)  # fmt: skip
    result = loop.run()
    assert result.status is LoopStatus.NO_PROGRESS
    assert result.exit is not None and result.exit.tool == "give_up"
    assert result.exit.arguments == {"reason": "no access"}
    assert result.exit.value == {"gave_up": "no access"}
    assert json.loads(result.text) == {"gave_up": "no access"}
    assert "say what was done" in _tool_returns(model.requests[1].messages)
    with pytest.raises(ValueError, match="not registered: nope"):
        Loop("x", builtin_tools(), model, exits=["nope"])


def test_tool_call_ceiling_never_runs_a_call_past_it_and_counts_over_a_resume(
    tmp_path: Path,
) -> None:
    made: list[int] = []

    def touch(n: int) -> str:
        """Touch ``n``.

        Args:
            n: which.
        """
        made.append(n)
        return "ok"

    def done(summary: str) -> str:
        """Finish.

        Args:
            summary: what was done.
        """
        return summary

    model = ScriptedModel([
        reply(tool_calls=[call("touch", n=1), call("touch", n=2)]),
        reply(tool_calls=[call("touch", n=3), call("touch", n=4), call("done", summary="x")]),
    ])  # fmt: skip
    loop = Loop("touch", [touch, done], model, exits=["done"], max_tool_calls=3, quiet=True)
    result = loop.run()
    assert made == [
        1,
        2,
        3,
    ]  # the fourth was refused before it ran; the exit call still ends the run
    assert result.status is LoopStatus.SUCCESS and loop.tool_calls_made == 3
    assert "tool_call_ceiling" in str(loop.trace.events if loop.trace else "")

    path = tmp_path / "run.state"
    first = ScriptedModel([reply(tool_calls=[call("touch", n=n)]) for n in (5, 6)])
    stopped = Loop("touch", [touch, done], first, exits=["done"], max_tool_calls=2, state_path=path,
                   quiet=True).run()  # fmt: skip
    assert stopped.status is LoopStatus.BUDGET_EXHAUSTED and "tool-call ceiling" in stopped.reason
    again = Loop.resume(
        path, tools=[touch, done], llm=ScriptedModel([]), exits=["done"], quiet=True
    )
    assert again.status is LoopStatus.BUDGET_EXHAUSTED and made == [1, 2, 3, 5, 6]
