"""OpenTelemetry spans from real loop runs (scripted model, real tools), into an in-memory exporter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tether.loop import Loop, LoopStatus
from tether.loop.otel import SpanRecorder
from tether.testing import ScriptedModel, call, reply
from tether.tools import builtin_tools

pytest.importorskip("pydantic_ai")
pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.name == name), key=lambda s: s.start_time or 0)


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _run_with_a_failing_tool(tmp_path: Path, on_event: Any) -> Any:
    (tmp_path / "notes.txt").write_text("hi")
    model = ScriptedModel([
        reply(tool_calls=[call("read_file", path=str(tmp_path / "missing.txt"))], usage=(100, 10)),
        reply(tool_calls=[call("list_directory", path=str(tmp_path))], usage=(130, 12)),
        reply("found notes.txt", usage=(160, 4)),
    ])  # fmt: skip
    return Loop("find the notes", builtin_tools(), model, trace_path=tmp_path / "t.jsonl",
                quiet=True, on_event=on_event).run()  # fmt: skip


def test_a_run_becomes_a_span_tree(tmp_path: Path) -> None:
    provider, exporter = _provider()
    recorder = SpanRecorder(tracer_provider=provider)
    result = _run_with_a_failing_tool(tmp_path, recorder)
    assert result.status is LoopStatus.SUCCESS and recorder.errors == []
    spans = exporter.get_finished_spans()

    (root,) = _by_name(spans, "tether.loop")
    iterations = _by_name(spans, "tether.iteration")
    llm_calls = _by_name(spans, "tether.llm.call")
    tools = _by_name(spans, "tether.tool")
    assert (len(iterations), len(llm_calls), len(tools), len(spans)) == (3, 3, 2, 9)
    assert root.parent is None and {s.context.trace_id for s in spans} == {root.context.trace_id}
    assert all(_parent_id(s) == root.context.span_id for s in iterations)
    for iteration, llm in zip(iterations, llm_calls, strict=True):
        assert _parent_id(llm) == iteration.context.span_id
    assert [_parent_id(t) for t in tools] == [s.context.span_id for s in iterations[:2]]

    attrs = root.attributes or {}
    assert (attrs["tether.goal"], attrs["tether.model"], attrs["tether.status"]) == (
        "find the notes", "scripted/scripted", "SUCCESS"
    )  # fmt: skip
    assert attrs["tether.reason"] == result.reason
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (390, 26)
    assert root.status.status_code is StatusCode.OK
    assert [i.attributes["tether.iteration"] for i in iterations if i.attributes] == [1, 2, 3]

    first = llm_calls[0].attributes or {}
    assert first["gen_ai.request.model"] == "scripted/scripted"
    assert (first["gen_ai.usage.input_tokens"], first["gen_ai.usage.output_tokens"]) == (100, 10)
    assert first["gen_ai.request.max_tokens"] == 4096
    assert first["gen_ai.response.finish_reasons"] == ("tool_calls",)

    failed, listed = tools
    assert (failed.attributes or {})["gen_ai.tool.name"] == "read_file"
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.status.description or "").startswith("error: FileNotFoundError")
    assert (listed.attributes or {})["tether.tool.status"] == "ok"
    assert listed.status.status_code is StatusCode.UNSET


def test_span_times_are_the_events_times(tmp_path: Path) -> None:
    provider, exporter = _provider()
    _run_with_a_failing_tool(tmp_path, SpanRecorder(tracer_provider=provider))
    events = _events(tmp_path / "t.jsonl")
    ns = {e["seq"]: int(e["t"] * 1e9) for e in events}
    spans = exporter.get_finished_spans()
    (root,) = _by_name(spans, "tether.loop")
    assert (root.start_time, root.end_time) == (ns[1], ns[len(events)])
    calls = [e for e in events if e["event"] == "tool.call"]
    results = [e for e in events if e["event"] == "tool.result"]
    for span, started, ended in zip(_by_name(spans, "tether.tool"), calls, results, strict=True):
        assert (span.start_time, span.end_time) == (ns[started["seq"]], ns[ended["seq"]])
    for span in spans:
        assert span.start_time is not None and span.end_time is not None
        assert root.start_time <= span.start_time <= span.end_time <= (root.end_time or 0)


def test_an_llm_call_with_duration_starts_that_much_earlier(tmp_path: Path) -> None:
    _run_with_a_failing_tool(tmp_path, None)
    provider, exporter = _provider()
    recorder = SpanRecorder(tracer_provider=provider)
    for event in _events(tmp_path / "t.jsonl"):  # the field core.py is about to write
        recorder(dict(event, duration_s=0.25) if event["event"] == "llm.call" else event)
    first = _by_name(exporter.get_finished_spans(), "tether.llm.call")[0]
    assert first.start_time is not None and first.end_time is not None
    assert first.end_time - first.start_time == 250_000_000


def test_a_stopped_run_is_an_error_with_policy_decisions_as_events(tmp_path: Path) -> None:
    provider, exporter = _provider()
    missing = str(tmp_path / "missing.ini")
    model = ScriptedModel([reply(tool_calls=[call("read_file", path=missing)])] * 4)
    result = Loop("g", builtin_tools(), model, quiet=True,
                  on_event=SpanRecorder(tracer_provider=provider)).run()  # fmt: skip
    assert result.status is LoopStatus.NO_PROGRESS
    spans = exporter.get_finished_spans()
    (root,) = _by_name(spans, "tether.loop")
    assert root.status.status_code is StatusCode.ERROR
    assert root.status.description == f"NO_PROGRESS: {result.reason}"
    decisions = [
        (ev.attributes or {}).get("tether.stop")
        for span in _by_name(spans, "tether.iteration")
        for ev in span.events
        if ev.name == "policy.decision"
    ]
    assert decisions == [False, False, True]


def test_a_resumed_run_is_a_second_loop_span_marked_resumed(tmp_path: Path) -> None:
    provider, exporter = _provider()
    state = tmp_path / "state"
    first = ScriptedModel([reply(tool_calls=[call("list_directory", path=str(tmp_path))])])
    Loop("goal", builtin_tools(), first, max_iterations=1, state_path=state, quiet=True,
         on_event=SpanRecorder(tracer_provider=provider)).run()  # fmt: skip
    Loop.resume(state, tools=builtin_tools(), llm=ScriptedModel([reply("done")]), quiet=True,
                extend={"max_iterations": 1}, on_event=SpanRecorder(tracer_provider=provider))  # fmt: skip
    paused, resumed = _by_name(exporter.get_finished_spans(), "tether.loop")
    assert (paused.attributes or {})["tether.status"] == "BUDGET_EXHAUSTED"
    assert "tether.resumed" not in (paused.attributes or {})
    attrs = resumed.attributes or {}
    assert (attrs["tether.goal"], attrs["tether.status"], attrs["tether.resumed"]) == ("goal", "SUCCESS", True)  # fmt: skip
    assert attrs["tether.resumed_after_iteration"] == 1
    (iteration,) = [s for s in exporter.get_finished_spans()
                    if s.name == "tether.iteration" and _parent_id(s) == resumed.context.span_id]  # fmt: skip
    assert (iteration.attributes or {})["tether.iteration"] == 2


def test_close_ends_what_a_killed_run_left_open_as_incomplete(tmp_path: Path) -> None:
    _run_with_a_failing_tool(tmp_path, None)
    events = _events(tmp_path / "t.jsonl")
    upto = next(i for i, e in enumerate(events) if e["event"] == "tool.call")
    provider, exporter = _provider()
    recorder = SpanRecorder(tracer_provider=provider)
    for event in events[: upto + 1]:  # the process died while the tool ran
        recorder(event)
    assert [s.name for s in exporter.get_finished_spans()] == ["tether.llm.call"]

    recorder.close(end_time_s=events[upto]["t"] + 5)
    recorder.close()  # idempotent
    spans = exporter.get_finished_spans()
    open_ones = [s for s in spans if s.name != "tether.llm.call"]
    assert sorted(s.name for s in open_ones) == ["tether.iteration", "tether.loop", "tether.tool"]
    for span in open_ones:
        assert (span.status.status_code, span.status.description) == (
            StatusCode.ERROR,
            "incomplete",
        )
        assert span.end_time == int((events[upto]["t"] + 5) * 1e9)


def test_unknown_events_become_span_events_and_bad_ones_never_raise(tmp_path: Path) -> None:
    provider, exporter = _provider()
    recorder = SpanRecorder(tracer_provider=provider)

    def also_approvals(event: dict[str, Any]) -> None:
        recorder(event)
        if event["event"] == "tool.call":
            assert loop.trace is not None
            loop.trace.emit("approval.granted", token="tok-1", tool=event["tool"], arguments=event["arguments"])  # fmt: skip

    model = ScriptedModel([reply(tool_calls=[call("list_directory", path=str(tmp_path))]), reply("ok")])  # fmt: skip
    loop = Loop("g", builtin_tools(), model, quiet=True, on_event=also_approvals)
    loop.run()
    recorder({"event": "loop.start", "t": "not a time"})
    assert recorder.errors and recorder.errors[0].startswith("ValueError")
    iteration = _by_name(exporter.get_finished_spans(), "tether.iteration")[0]
    (granted,) = [ev for ev in iteration.events if ev.name == "approval.granted"]
    assert (granted.attributes or {})["tether.tool"] == "list_directory"
    assert json.loads(str((granted.attributes or {})["tether.arguments"])) == {
        "path": str(tmp_path)
    }


def test_without_opentelemetry_the_recorder_does_nothing_and_the_loop_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, exporter = _provider()
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    recorder = SpanRecorder(tracer_provider=provider)
    assert not recorder.enabled and SpanRecorder.if_available(provider) is None
    result = _run_with_a_failing_tool(tmp_path, recorder)
    recorder.close()
    assert result.status is LoopStatus.SUCCESS
    assert exporter.get_finished_spans() == () and recorder.errors == []


def test_importing_tether_loop_does_not_import_opentelemetry() -> None:
    code = ("import sys, tether, tether.loop, tether.loop.otel, tether.loop.explain\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_loop_emits_spans_to_the_provider_it_is_given(tmp_path: Path) -> None:
    provider, exporter = _provider()
    model = ScriptedModel(
        [reply(tool_calls=[call("list_directory", path=str(tmp_path))]), reply("done")]
    )
    Loop("look", builtin_tools(), model, otel=provider, quiet=True).run()
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names.count("tether.llm.call") == 2 and "tether.tool" in names and "tether.loop" in names
    exporter.clear()
    Loop("look", builtin_tools(), ScriptedModel([reply("done")]), otel=False, quiet=True).run()
    assert exporter.get_finished_spans() == ()
