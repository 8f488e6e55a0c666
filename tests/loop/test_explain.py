"""Explaining runs from the traces that real loops wrote (scripted model, real tools and files)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tether.errors import ConfigError
from tether.loop import Loop, LoopStatus, MetricSnapshot, Trace
from tether.loop.approval import CallbackApproval, HeadlessApproval, RequireApproval
from tether.loop.explain import INCOMPLETE, TRUNCATED_LINE, explain, load_trace, split_runs
from tether.testing import ScriptedModel, call, reply
from tether.tools import builtin_tools

pytest.importorskip("pydantic_ai")


def _repeating_run(tmp_path: Path, trace: Path, goal: str = "read the config") -> Any:
    """A run that reads a missing file four times: NoProgress stops it."""
    missing = str(tmp_path / "missing.ini")
    script = [reply("let me look", tool_calls=[call("read_file", path=missing)], usage=(100, 7))]
    script += [reply(tool_calls=[call("read_file", path=missing)], usage=(120, 5))] * 3
    model = ScriptedModel(script)
    return Loop(goal, builtin_tools(), model, trace_path=trace, quiet=True).run()


def test_no_progress_run_explains_the_stop_the_repeats_and_what_to_do(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    result = _repeating_run(tmp_path, trace)
    assert result.status is LoopStatus.NO_PROGRESS

    x = explain(load_trace(trace))
    assert (x.status, x.reason, x.resumable) == ("NO_PROGRESS", result.reason, True)
    assert x.recommended_action == result.recommended_action
    assert (x.goal, x.model, x.iterations) == ("read the config", "scripted/scripted", 4)
    assert "20 iterations" in x.limits and "read_file" in x.tools
    assert (x.usage.input_tokens, x.usage.output_tokens) == (460, 22)
    assert (x.usage.llm_calls, x.usage.tool_calls, x.usage.failed_tool_calls) == (4, 4, 4)
    assert x.cost_usd is None  # the scripted model has no price

    assert [c.kind for c in x.chain] == ["iteration"] * 4 + ["stop"]
    first = x.chain[0]
    assert first.headline() == "Iteration 1: called read_file"
    assert first.said == "let me look"
    (step,) = first.tools
    assert step.status == "error" and not step.repeated
    assert "FileNotFoundError" in step.detail and "missing.ini" in step.arguments
    assert x.chain[1].tools[0].repeated
    assert x.chain[3].decisions == [f"NoProgress: stop with NO_PROGRESS: {result.reason}"]
    assert x.chain[-1].headline() == f"Stopped: NO_PROGRESS: {result.reason}"

    grouped = {kind: at for kind, _, at in x.grouped_signals()}
    assert grouped["repeated_action"] == [2, 3, 4]
    assert grouped["tool_error"] == [1, 2, 3, 4]
    assert grouped["policy_stop"] == [4]


def test_markdown_has_the_stop_a_usage_table_and_a_numbered_chain(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    result = _repeating_run(tmp_path, trace)
    md = explain(load_trace(trace)).to_markdown()
    assert md.startswith("# Run explained: NO_PROGRESS\n")
    assert f"- **Why it stopped:** {result.reason}" in md
    assert f"- **What to do next:** {result.recommended_action}" in md
    assert (
        "## Usage" in md
        and "| input tokens | 460 |" in md
        and "| tool calls | 4 (4 failed) |" in md
    )
    assert "- **repeated action** (iterations 2, 3, 4): read_file(" in md
    chain = md.split("## Decision chain\n\n", 1)[1]
    assert chain.startswith(
        "1. **Iteration 1: called read_file**\n   - model said: “let me look”\n"
    )
    assert "\n5. **Stopped: NO_PROGRESS: " in chain
    assert f"`read_file(path={json.dumps(str(tmp_path / 'missing.ini'))})` → error: " in chain


def test_markdown_shows_trace_text_as_written_not_as_markup(tmp_path: Path) -> None:
    odd = tmp_path / "a`b.txt"
    odd.write_text("x")
    model = ScriptedModel([
        reply("<img src=x> *very* [link](http://evil)", tool_calls=[call("read_file", path=str(odd))]),
        reply("done"),
    ])  # fmt: skip
    trace = tmp_path / "t.jsonl"
    Loop("g", builtin_tools(), model, trace_path=trace, quiet=True).run()
    md = explain(load_trace(trace)).to_markdown()
    assert r"model said: “\<img src=x\> \*very\* [link\](http://evil)”" in md
    assert f"``read_file(path={json.dumps(str(odd))})`` → ok" in md  # a longer fence around a `


def test_metric_trend_regression_and_success_are_in_the_chain(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    target = work / "result.txt"

    class Metric:
        def measure(self, observation: Any) -> MetricSnapshot:
            failing = {p.name for p in work.glob("*.err")}
            done = target.exists() and target.read_text() == "ok"
            if not done:
                failing.add(target.name)
            return MetricSnapshot(float(len(failing)), f"{len(failing)} wrong", frozenset(failing), success=done)  # fmt: skip

    model = ScriptedModel([
        reply(tool_calls=[call("write_file", path=str(work / "x.err"), content="oops")]),
        reply(tool_calls=[call("write_file", path=str(target), content="ok")]),
    ])  # fmt: skip
    trace = tmp_path / "t.jsonl"
    result = Loop("write the result", builtin_tools(), model, trace_path=trace, quiet=True,
                  observe=lambda: "state", goal_metric=Metric()).run()  # fmt: skip
    assert result.status is LoopStatus.SUCCESS

    x = explain(load_trace(trace))
    assert x.status == "SUCCESS" and x.resumable is False
    assert [c.metric for c in x.chain if c.kind == "iteration"] == [
        "1 (1 wrong), first", "2 (2 wrong), regressed", "1 (1 wrong), improved"
    ]  # fmt: skip
    assert x.chain[2].headline() == "Iteration 3: no model call"  # it only measured
    assert x.iterations == 2
    (regression,) = [s for s in x.signals if s.kind == "regression"]
    assert (
        regression.iteration == 2 and "x.err" in regression.text and "result.txt" in regression.text
    )


def test_exit_tool_and_continuations_are_noted(tmp_path: Path) -> None:
    def done(summary: str) -> str:
        """Finish with a summary."""
        return summary

    model = ScriptedModel([
        reply("first half", finish_reason="length"),
        reply(" second half", tool_calls=[call("done", summary="all good")]),
    ])  # fmt: skip
    trace = tmp_path / "t.jsonl"
    Loop("g", [*builtin_tools(), done], model, exits=["done"], trace_path=trace, quiet=True).run()
    x = explain(load_trace(trace))
    assert (x.status, x.reason) == ("SUCCESS", "the model called done")
    entry = x.chain[0]
    assert entry.said == "first half second half"
    assert "the answer was cut off by the output limit; asked to continue" in entry.notes
    assert "exit tool done succeeded: the run ends" in entry.notes
    assert [s.kind for s in x.signals] == ["truncated_output"]
    assert x.usage.llm_calls == 2


def test_invalid_calls_and_truncated_output_are_signals(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    big.write_text("line\n" * 10_000)
    script = [reply(tool_calls=[call("read_file", path=str(big))])]
    script += [reply(tool_calls=[call("read_file", nope=1)])] * 8
    trace = tmp_path / "t.jsonl"
    model = ScriptedModel(script)
    result = Loop("g", builtin_tools(), model, policies=[], trace_path=trace, quiet=True).run()
    assert result.status is LoopStatus.PLAN_FAILED

    x = explain(load_trace(trace))
    assert x.status == "PLAN_FAILED"
    kinds = {s.kind for s in x.signals}
    assert {"invalid_call", "truncated_output"} <= kinds
    assert x.chain[0].tools[0].outcome_text().endswith("[output truncated]")
    assert x.chain[1].tools[0].status == "invalid_arguments"
    assert any("used up their corrections" in n for c in x.chain for n in c.notes)


def test_several_runs_in_one_file_the_last_by_default(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    for goal in ("first goal", "second goal"):
        Loop(
            goal, builtin_tools(), ScriptedModel([reply("ok")]), trace_path=trace, quiet=True
        ).run()
    events = load_trace(trace)
    assert len(split_runs(events)) == 2
    assert (explain(events).goal, explain(events).run, explain(events).runs) == (
        "second goal",
        2,
        2,
    )
    assert explain(events, run=1).goal == "first goal"
    assert explain(events, run=-2).goal == "first goal"
    for bad in (0, 3, -3):
        with pytest.raises(ConfigError, match=r"holds 2 run\(s\); run -?\d does not exist"):
            explain(events, run=bad)


def test_a_resumed_run_reads_as_one_run_continuing(tmp_path: Path) -> None:
    trace, state = tmp_path / "t.jsonl", tmp_path / "state"
    a = tmp_path / "a.txt"
    a.write_text("A")
    first = ScriptedModel([reply(tool_calls=[call("read_file", path=str(a))], usage=(50, 5))])
    result = Loop("goal", builtin_tools(), first, max_iterations=1, state_path=state,
                  trace_path=trace, quiet=True).run()  # fmt: skip
    assert result.status is LoopStatus.BUDGET_EXHAUSTED and result.resumable
    second = ScriptedModel([reply("finished", usage=(70, 3))])
    rest = Loop.resume(state, tools=builtin_tools(), llm=second, extend={"max_iterations": 1}, quiet=True)  # fmt: skip
    assert rest.status is LoopStatus.SUCCESS

    events = load_trace(trace)
    x = explain(events)
    assert (x.runs, x.status, x.goal, x.resumable) == (1, "SUCCESS", "goal", False)
    kinds = [c.kind for c in x.chain]
    assert kinds == ["iteration", "stop", "resumed", "iteration", "stop"]
    assert x.chain[1].headline().startswith("Stopped: BUDGET_EXHAUSTED: iterations ceiling")
    assert x.chain[2].headline() == "Resumed after BUDGET_EXHAUSTED, at iteration 2"
    assert x.chain[0].tools[0].tool == "read_file"
    assert x.chain[3].headline() == "Iteration 2: answered without a tool call"
    assert x.chain[3].said == "finished"
    assert (x.usage.input_tokens, x.usage.output_tokens, x.iterations) == (120, 8, 2)
    assert x.notes == [] and not [s for s in x.signals if s.kind == "problem"]

    # a resume that also writes its own loop.start first continues the run just the same
    with_start = [*events]
    at = next(i for i, e in enumerate(events) if e["event"] == "loop.resumed")
    with_start.insert(at, dict(events[0], seq=1))
    assert [c.kind for c in explain(with_start).chain] == kinds
    assert len(split_runs(with_start)) == 1


def test_an_approval_pause_and_resume_read_in_order(tmp_path: Path) -> None:
    trace, state = tmp_path / "t.jsonl", tmp_path / "state"

    def policies() -> list[Any]:
        return [RequireApproval(["run_command"], reason="runs a shell command")]

    model = ScriptedModel([reply("cleaning", tool_calls=[call("run_command", command="echo cleaned")])])  # fmt: skip
    paused = Loop("clean the build", builtin_tools(), model, policies=policies(), state_path=state,
                  approval_runner=HeadlessApproval(store=tmp_path / "approvals.db"),
                  trace_path=trace, quiet=True).run()  # fmt: skip
    assert paused.status is LoopStatus.AWAITING_APPROVAL
    token = paused.reason.split("token ")[1].split(" ")[0]
    Loop.resume(state, tools=builtin_tools(), llm=ScriptedModel([reply("done")]), policies=policies(),
                approval={"token": token, "approved": True}, quiet=True)  # fmt: skip

    x = explain(load_trace(trace))
    assert x.status == "SUCCESS"
    headlines = [c.headline() for c in x.chain]
    assert headlines[0] == "Iteration 1: asked for run_command (not run)"
    assert headlines[1].startswith(f"Stopped: AWAITING_APPROVAL: waiting for approval of run_command: token {token}")  # fmt: skip
    assert headlines[2:5] == [
        "Resumed after AWAITING_APPROVAL, at iteration 1",
        "Iteration 1 (continued): called run_command",
        "Iteration 2: answered without a tool call",
    ]
    assert x.chain[0].details()[1:] == [
        'approval requested for run_command(command="echo cleaned"): runs a shell command (run_command)',
        f"approval pending for run_command [token {token}]",
    ]
    granted, ran = x.chain[3].details()  # the grant came before the call it allowed
    assert granted == f"approval granted (resume) [token {token}]"
    assert ran.startswith('run_command(command="echo cleaned") → ok (')
    assert [s.kind for s in x.signals] == ["approval"] * 3


def test_a_denied_approval_is_the_stop(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    model = ScriptedModel([reply(tool_calls=[call("run_command", command="rm -rf build")])])
    Loop("clean", builtin_tools(), model, policies=[RequireApproval(["run_command"])],
         approval_runner=CallbackApproval(lambda request: False), trace_path=trace, quiet=True).run()  # fmt: skip
    md = explain(load_trace(trace)).to_markdown()
    assert md.startswith("# Run explained: APPROVAL_DENIED\n")
    assert (
        "- **approval** (iteration 1): approval denied for run_command (denied by callback)" in md
    )
    assert "2. **Stopped: APPROVAL_DENIED: run_command was not approved: denied by callback**" in md


def test_a_run_without_loop_end_is_incomplete_and_shows_its_last_event(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    _repeating_run(tmp_path, trace)
    lines = trace.read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["event"] == "loop.end"
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[:-1]))

    x = explain(load_trace(cut))
    assert x.status == INCOMPLETE and x.resumable is None
    last = json.loads(lines[-2])
    assert x.last_event == last and last["event"] == "policy.decision"
    assert "#24 policy.decision (iteration 4)" in x.reason
    assert x.chain[-1].kind == "incomplete"
    assert "# Run explained: RUNNING/INCOMPLETE" in x.to_markdown()


def test_a_cut_off_last_line_is_skipped_with_a_note(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    _repeating_run(tmp_path, trace)
    data = trace.read_bytes()
    trace.write_bytes(data[: len(data) - 40])  # what a writer killed mid-line leaves

    events = load_trace(trace)
    assert events[-1]["event"] == TRUNCATED_LINE and events[-1]["line"] == 25
    x = explain(events)
    assert x.status == INCOMPLETE
    assert x.last_event["event"] == "policy.decision"
    assert x.notes and "line 25 of the trace was cut off" in x.notes[0]
    assert "## Notes on the trace" in x.to_markdown()


def test_a_run_killed_during_a_tool_shows_the_call_without_result(tmp_path: Path) -> None:
    trace, started = tmp_path / "t.jsonl", tmp_path / "started"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from tether.loop import Loop
        from tether.testing import ScriptedModel, call, reply

        def wait_for_build(minutes: int) -> str:
            \"\"\"Wait for the build.\"\"\"
            Path({str(started)!r}).touch()
            time.sleep(60)
            return "built"

        model = ScriptedModel([reply(tool_calls=[call("wait_for_build", minutes=5)])])
        Loop("wait", [wait_for_build], model, trace_path={str(trace)!r}, quiet=True).run()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None and time.monotonic() < deadline, (
                "the run never started its tool"
            )
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    x = explain(load_trace(trace))
    assert x.status == INCOMPLETE
    assert x.last_event["event"] == "tool.call"
    (step,) = x.chain[-2].tools
    assert (step.call_text(), step.outcome_text()) == (
        "wait_for_build(minutes=5)",
        "no result recorded",
    )


def test_unknown_events_appear_in_the_chain(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    model = ScriptedModel([reply(tool_calls=[call("list_directory", path=str(tmp_path))]), reply("done")])  # fmt: skip

    def regulator(event: dict[str, Any]) -> None:  # events of a kind explain has never seen
        if event["event"] == "tool.call":
            assert loop.trace is not None
            loop.trace.emit(
                "regulator.hint", iteration=event["iteration"], note="prefer make clean"
            )
            loop.trace.emit("regulator.snapshot", window=3)

    loop = Loop("look", builtin_tools(), model, trace_path=trace, quiet=True, on_event=regulator)
    loop.run()
    after = Trace(trace)  # a callback that failed after the run, as a later writer records it
    after.emit("trace.callback_error", error="ValueError: boom")
    after.close()

    x = explain(load_trace(trace))
    assert x.status == "SUCCESS"
    assert x.chain[0].notes == [
        'regulator.hint: note="prefer make clean"',
        "regulator.snapshot: window=3",
    ]
    assert x.chain[-1].summary == 'trace.callback_error: error="ValueError: boom"'
    problems = [s.text for s in x.signals if s.kind == "problem"]
    assert problems == [
        "event trace.callback_error after loop.end",
        'trace.callback_error: error="ValueError: boom"',
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            '{"event": "loop.start"}\n{"event": oops}\n{"event": "loop.end"}\n',
            "line 2: not valid JSON",
        ),
        ('{"event": "loop.start"}\n[1, 2]\n\n', "line 2: a JSON list, not an event object"),
        ('{"rule": "pip"}\n{"event": "loop.end"}\n', "line 1: no 'event' field"),
    ],
)
def test_a_malformed_line_names_the_file_and_line(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ConfigError, match=problem) as info:
        load_trace(path)
    assert str(path) in str(info.value)


def test_bad_bytes_mid_file_and_missing_or_empty_files_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b'{"event": "loop.start"}\n\xff\xfe\n{"event": "loop.end"}\n')
    with pytest.raises(ConfigError, match="line 2: not UTF-8"):
        load_trace(path)
    with pytest.raises(ConfigError, match=r"nope\.jsonl: cannot read"):
        load_trace(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ConfigError, match="no event"):
        explain(load_trace(tmp_path / "empty.jsonl"))
