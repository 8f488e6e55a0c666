"""ToolRunner: validation, structured errors and budgets, timeouts, output caps, parallel calls."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from tether.errors import MCPError
from tether.llm.types import ToolCall
from tether.tools import Tool, ToolRunner
from tether.tools.invoke import cap_text, render_output


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Box(pydantic.BaseModel):
    w: int
    h: int


def add(a: int, b: int = 1) -> int:
    """Add."""
    return a + b


def describe(level: Level, box: Box, tags: list[str] | None = None) -> str:
    return f"{level.name}:{box.w}x{box.h}:{tags}"


def boom(message: str) -> str:
    raise ValueError(message)


def unavailable() -> str:
    raise MCPError("went away", server="srv")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown so that abandoned tool threads finish."""
    event = threading.Event()
    yield event
    event.set()


def runner(*fns: Any, **options: Any) -> ToolRunner:
    tools = [f if isinstance(f, Tool) else Tool.from_function(f) for f in fns]
    return ToolRunner(tools, **options)


def error(result: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.content)
    return data


# -- success and validation -----------------------------------------------------------------------


def test_valid_call_runs_with_validated_and_coerced_arguments() -> None:
    r = runner(add, describe)
    result = r.run(ToolCall("add", {"a": 2, "b": 3}, id="c1"))
    assert (result.ok, result.status, result.content, result.value, result.call_id) == (
        True, "ok", "5", 5, "c1",
    )  # fmt: skip
    described = r.run(ToolCall("describe", {"level": "high", "box": {"w": 2, "h": 3}}))
    assert described.content == "HIGH:2x3:None"  # an Enum member and a model instance arrived
    assert r.run(ToolCall("add", '{"a": "4"}')).value == 5  # JSON text, lax int
    assert r.run(ToolCall("add", "  ", id="x")).status == "invalid_arguments"  # {}: a missing


def test_invalid_arguments_come_back_structured_with_a_decreasing_budget() -> None:
    r = runner(add, max_retries=2)
    seen = []
    for _ in range(3):
        result = r.run(ToolCall("add", {"a": "not a number", "c": 1}))
        assert result.status == "invalid_arguments" and not result.ok
        body = error(result)
        assert body["error"] == "invalid_arguments" and body["tool"] == "add"
        assert {p["field"] for p in body["problems"]} == {"a", "c"}
        seen.append((result.retries_left, body["retries_left"], r.exhausted("add")))
    assert seen == [(2, 2, False), (1, 1, False), (0, 0, True)]
    assert error(result)["hint"] == "no corrections left for this tool"
    r.new_turn()
    assert not r.exhausted("add")
    assert r.run(ToolCall("add", {"a": "x"})).retries_left == 2


def test_unknown_tool_names_the_known_ones_and_counts_against_a_budget() -> None:
    r = runner(add, describe, max_retries=1)
    first = r.run(ToolCall("ad", {"a": 1}))
    assert first.status == "unknown_tool"
    body = error(first)
    assert "'ad'" in body["message"] and "add, describe" in body["message"]
    assert body["retries_left"] == 1
    assert r.run(ToolCall("ad", {"a": 1})).retries_left == 0
    assert r.exhausted("ad") and not r.exhausted("add")


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ('{"a": 1', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        ('"text"', "must be a JSON object, got str"),
    ],
)
def test_malformed_arguments_are_an_error_the_model_can_correct(arguments: str, match: str) -> None:
    result = runner(add).run(ToolCall("add", arguments))
    assert result.status == "invalid_arguments"
    assert match in error(result)["message"]
    assert error(result)["retries_left"] == 2


def test_schema_only_tools_check_required_and_unknown_keys() -> None:
    async def remote(**kwargs: Any) -> Any:
        return kwargs

    t = Tool.from_schema(
        "remote", remote, description="", parameters={
            "type": "object", "properties": {"q": {"type": "string"}},
            "required": ["q"], "additionalProperties": False,
        },
    )  # fmt: skip
    r = ToolRunner([t])
    bad = r.run(ToolCall("remote", {"z": 1}))
    assert bad.status == "invalid_arguments"
    assert error(bad)["problems"] == [
        {"field": "q", "problem": "required field missing"},
        {"field": "z", "problem": "unknown field"},
    ]
    assert r.run(ToolCall("remote", {"q": "x"})).value == {"q": "x"}


# -- failures ------------------------------------------------------------------------------------


def test_raising_tool_is_an_error_result_with_type_and_message() -> None:
    result = runner(boom).run(ToolCall("boom", {"message": "bad input file"}))
    assert result.status == "error"
    assert error(result) == {
        "error": "error",
        "message": "ValueError: bad input file",
        "tool": "boom",
    }
    assert result.retries_left == 2  # a tool failing is not the model's mistake


def test_mcp_error_from_a_tool_is_unavailable() -> None:
    result = runner(unavailable).run(ToolCall("unavailable", {}))
    assert result.status == "unavailable"
    assert "MCP server 'srv': went away" in error(result)["message"]


def test_hanging_sync_tool_times_out_and_is_abandoned(release: threading.Event) -> None:
    finished = threading.Event()

    def hang() -> str:
        release.wait(10)
        finished.set()
        return "late"

    r = ToolRunner([Tool.from_function(hang, timeout_s=0.2)])
    started = time.monotonic()
    result = r.run(ToolCall("hang", {}))
    assert time.monotonic() - started < 2
    assert result.status == "timeout"
    assert "did not finish within 0.2 s and was aborted" in error(result)["message"]
    assert not finished.is_set()  # the thread is still there, abandoned

    async def main() -> Any:
        return await r.arun(ToolCall("hang", {}))

    started = time.monotonic()
    assert asyncio.run(main()).status == "timeout"
    assert time.monotonic() - started < 2


def test_async_tool_is_cancelled_at_its_timeout() -> None:
    cancelled = []

    async def slow() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "late"

    r = ToolRunner([Tool.from_function(slow, timeout_s=0.2)])

    async def main() -> Any:
        return await r.arun(ToolCall("slow", {}))

    started = time.monotonic()
    assert asyncio.run(main()).status == "timeout"
    assert r.run(ToolCall("slow", {})).status == "timeout"  # sync path, private loop
    assert time.monotonic() - started < 3
    assert cancelled == [True, True]


def test_async_tool_runs_on_the_sync_path() -> None:
    async def double(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    assert runner(double).run(ToolCall("double", {"n": 21})).value == 42


# -- output ---------------------------------------------------------------------------------------


def test_huge_output_is_capped_keeping_head_and_tail() -> None:
    def huge() -> str:
        return "HEAD-" + "x" * 200_000 + "-TAIL"

    result = runner(huge, max_output_chars=1000).run(ToolCall("huge", {}))
    assert result.ok and result.truncated
    assert result.content.startswith("HEAD-") and result.content.endswith("-TAIL")
    assert "characters omitted" in result.content
    assert len(result.content) < 1100
    assert len(result.value) == 200_010  # the value itself is untouched


def test_small_output_is_not_marked_truncated() -> None:
    assert not runner(add).run(ToolCall("add", {"a": 1})).truncated
    assert cap_text("abc", 3) == ("abc", False)


def test_render_output_shapes() -> None:
    @dataclasses.dataclass
    class D:
        a: int

    assert render_output(None) == ""
    assert render_output("text") == "text"
    assert render_output({"k": [1, "é"]}) == '{"k": [1, "é"]}'
    assert render_output(Box(w=1, h=2)) == '{"w": 1, "h": 2}'
    assert render_output(D(3)) == '{"a": 3}'
    assert render_output({"s": {7}, "p": Path("/a")}) == '{"s": [7], "p": "/a"}'
    assert render_output(float("nan")) == "NaN"


# -- several calls in one turn --------------------------------------------------------------------


def test_arun_many_runs_parallel_safe_sync_calls_concurrently_and_keeps_order() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def meet(i: int) -> int:
        barrier.wait()  # only returns once all three calls are running at the same time
        return i

    r = ToolRunner([Tool.from_function(meet, parallel_safe=True, timeout_s=10)])
    calls = [ToolCall("meet", {"i": i}, id=str(i)) for i in (2, 0, 1)]
    results = asyncio.run(r.arun_many(calls))
    assert [(x.call_id, x.value) for x in results] == [("2", 2), ("0", 0), ("1", 1)]


def test_arun_many_runs_parallel_safe_async_calls_concurrently() -> None:
    async def main() -> list[Any]:
        ready = asyncio.Event()

        async def waiter() -> str:
            await ready.wait()  # would time out if setter ran after it
            return "waited"

        async def setter() -> str:
            ready.set()
            return "set"

        r = ToolRunner([
            Tool.from_function(waiter, parallel_safe=True, timeout_s=5),
            Tool.from_function(setter, parallel_safe=True, timeout_s=5),
        ])  # fmt: skip
        return await r.arun_many([ToolCall("waiter", {}), ToolCall("setter", {})])

    assert [x.content for x in asyncio.run(main())] == ["waited", "set"]


def test_arun_many_runs_other_calls_one_at_a_time_in_order() -> None:
    log: list[str] = []
    running = threading.Lock()

    def step(i: int) -> int:
        assert running.acquire(blocking=False), "two calls overlapped"
        log.append(f"start {i}")
        time.sleep(0.01)
        log.append(f"end {i}")
        running.release()
        return i

    def fast(i: int) -> int:
        return i

    r = ToolRunner([Tool.from_function(step), Tool.from_function(fast, parallel_safe=True)])
    calls = [
        ToolCall("fast", {"i": 0}), ToolCall("step", {"i": 1}), ToolCall("step", {"i": 2}),
        ToolCall("nope", {}), ToolCall("fast", {"i": 4}),
    ]  # fmt: skip
    results = asyncio.run(r.arun_many(calls))
    assert [x.status for x in results] == ["ok", "ok", "ok", "unknown_tool", "ok"]
    assert [x.value for x in results] == [0, 1, 2, None, 4]
    assert log == ["start 1", "end 1", "start 2", "end 2"]


def test_definitions_list_every_tool() -> None:
    defs = runner(add, boom).definitions()
    assert [d.name for d in defs] == ["add", "boom"]
    assert defs[0].parameters["required"] == ["a"]
