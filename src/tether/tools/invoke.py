"""Running a model's tool call: validate, run with a timeout, cap the output.

Nothing a model sends can crash the run. An unknown tool name, arguments that
are not JSON, or arguments that do not fit the schema come back to the model
as a JSON error object saying what to fix, and each tool has a per-turn budget
of such corrections (``max_retries``, default 2). A tool that raises is an
``error`` result carrying the exception's type and message.

Timeouts: async tools are cancelled at the limit. Sync tools run in a worker
thread; Python cannot stop a thread, so at the limit the call is reported as
``timeout`` (aborted) and the thread is abandoned to finish on its own — its
result, if any, is discarded. Tools that must really stop (subprocesses) do it
themselves: the built-in ``run_command`` kills its process group.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from tether._bridge import call_in_thread, thread_future
from tether._text import head_and_tail
from tether.llm.types import ToolCall, ToolDefinition
from tether.tools.tool import Tool, ToolRegistry, ToolResult, ToolStatus

__all__ = ["DEFAULT_MAX_OUTPUT_CHARS", "ToolRunner", "cap_text", "render_output"]

DEFAULT_MAX_OUTPUT_CHARS = 32_000
"""Characters of one tool result the model reads; the head and the tail are kept."""


def cap_text(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` to at most about ``limit`` characters, keeping a quarter from the head and the
    rest from the tail (errors and summaries come last); returns (text, truncated)."""
    if len(text) <= limit:
        return text, False
    return head_and_tail(text, limit, head=limit // 4), True


def render_output(value: Any) -> str:
    """A tool's return value as the text the model reads (JSON for structured values)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=_jsonable)
    except (TypeError, ValueError):
        return repr(value)


def _jsonable(value: Any) -> Any:
    """What ``json.dumps`` writes for values it does not know: sets as lists, the rest as text."""
    if isinstance(value, set | frozenset):
        return list(value)
    return str(value)


def _error(kind: str, message: str, **extra: Any) -> str:
    return json.dumps({"error": kind, "message": message, **extra}, ensure_ascii=False, default=str)


class _Invalid(Exception):
    def __init__(self, message: str, problems: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.problems = problems


def _check_json_schema(tool: Tool, args: dict[str, Any]) -> None:
    """The light check for schema-only tools: required keys present, no unknown keys."""
    props = tool.parameters.get("properties", {}) or {}
    problems = [
        {"field": key, "problem": "required field missing"}
        for key in tool.parameters.get("required", []) or []
        if key not in args
    ]
    if tool.parameters.get("additionalProperties") is False:
        problems += [{"field": k, "problem": "unknown field"} for k in args if k not in props]
    if problems:
        raise _Invalid("arguments do not fit the tool's schema", problems)


class ToolRunner:
    """Runs tool calls for one conversation; keeps the per-tool correction budget.

    Args:
        tools: the tools the model may call (a registry or any iterable of :class:`Tool`).
        max_retries: invalid calls (unknown name, bad JSON, schema mismatch) the model may
            correct per tool before :meth:`exhausted` says so; reset by :meth:`new_turn`.
        max_output_chars: cap on the text of one result (head and tail kept).
        clock: monotonic seconds, injectable.

    Example::

        runner = ToolRunner(registry)
        result = runner.run(ToolCall("read_file", {"path": "build.sh"}, id="c1"))
        if not result.ok: ...  # result.content is a JSON error the model can act on
    """

    def __init__(
        self,
        tools: ToolRegistry | Iterable[Tool],
        *,
        max_retries: int = 2,
        max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tools = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)
        self.max_retries = max_retries
        self.max_output_chars = max_output_chars
        self.clock = clock
        self._invalid: dict[str, int] = {}

    def definitions(self) -> list[ToolDefinition]:
        """Every tool as the model sees it."""
        return [t.definition() for t in self.tools]

    def new_turn(self) -> None:
        """Reset the correction budgets (call once per model turn that made valid progress)."""
        self._invalid.clear()

    def exhausted(self, name: str) -> bool:
        """True when the model used up its corrections for ``name``."""
        return self._invalid.get(name, 0) > self.max_retries

    # -- preparing ---------------------------------------------------------------------------------

    def _prepare(self, call: ToolCall) -> tuple[Tool, dict[str, Any]] | ToolResult:
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(self.tools.names()) or "none"
            return self._invalid_result(
                call, "unknown_tool", f"there is no tool named {call.name!r}; tools: {known}"
            )
        args: Any = call.arguments
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError as exc:
                return self._invalid_result(
                    call,
                    "invalid_arguments",
                    f"arguments are not valid JSON ({exc.msg} at {exc.pos}); "
                    "send a JSON object with the tool's parameters",
                )
        if not isinstance(args, dict):
            return self._invalid_result(
                call,
                "invalid_arguments",
                f"arguments must be a JSON object, got {type(args).__name__}",
            )
        try:
            kwargs = self._validate(tool, args)
        except _Invalid as exc:
            return self._invalid_result(call, "invalid_arguments", str(exc), problems=exc.problems)
        return tool, kwargs

    @staticmethod
    def _validate(tool: Tool, args: dict[str, Any]) -> dict[str, Any]:
        if tool.validator is None:
            _check_json_schema(tool, args)
            return args
        import pydantic

        try:
            model = tool.validator.model_validate(args)
        except pydantic.ValidationError as exc:
            problems = [
                {
                    "field": ".".join(str(p) for p in err["loc"]) or "(arguments)",
                    "problem": err["msg"],
                }
                for err in exc.errors(include_url=False, include_input=False)
            ]
            raise _Invalid("arguments do not fit the tool's schema", problems) from None
        return dict(model)  # iteration, not getattr: a field may be named like a method

    def _invalid_result(
        self, call: ToolCall, status: ToolStatus, message: str, **extra: Any
    ) -> ToolResult:
        used = self._invalid.get(call.name, 0) + 1
        self._invalid[call.name] = used
        left = max(self.max_retries - used + 1, 0)
        hint = "correct the call and try again" if left else "no corrections left for this tool"
        content = _error(status, message, tool=call.name, retries_left=left, hint=hint, **extra)
        return ToolResult(call.name, call.id, status, content, retries_left=left)

    def _finish(self, call: ToolCall, started: float, outcome: tuple[str, Any]) -> ToolResult:
        kind, payload = outcome
        elapsed = self.clock() - started
        left = max(self.max_retries - self._invalid.get(call.name, 0), 0)
        if kind == "ok":
            text, truncated = cap_text(render_output(payload), self.max_output_chars)
            return ToolResult(call.name, call.id, "ok", text, payload, truncated, elapsed, left)
        if kind == "timeout":
            msg = f"the call did not finish within {payload:g} s and was aborted"
            return ToolResult(
                call.name,
                call.id,
                "timeout",
                _error("timeout", msg, tool=call.name),
                duration_s=elapsed,
                retries_left=left,
            )
        exc: BaseException = payload
        status: ToolStatus = "unavailable" if _is_unavailable(exc) else "error"
        message, truncated = cap_text(f"{type(exc).__name__}: {exc}", 4000)
        content = _error(status, message, tool=call.name)
        return ToolResult(call.name, call.id, status, content, None, truncated, elapsed, left)

    # -- running -----------------------------------------------------------------------------------

    def run(self, call: ToolCall) -> ToolResult:
        """Run one call synchronously (async tools run on a private event loop)."""
        prepared = self._prepare(call)
        if isinstance(prepared, ToolResult):
            return prepared
        tool, kwargs = prepared
        started = self.clock()

        def work() -> Any:
            if tool.is_async:
                return asyncio.run(_with_timeout(tool, kwargs))
            return tool.fn(**kwargs)

        ended = call_in_thread(
            work,
            name=f"tether-tool-{tool.name}",
            timeout_s=tool.timeout_s if not tool.is_async else tool.timeout_s + 5.0,
            context=contextvars.copy_context(),
        )
        outcome: tuple[str, Any]
        if ended is None or isinstance(ended.error, TimeoutError):
            outcome = ("timeout", tool.timeout_s)
        elif ended.error is not None:
            outcome = ("raised", ended.error)
        else:
            outcome = ("ok", ended.value)
        return self._finish(call, started, outcome)

    async def arun(self, call: ToolCall) -> ToolResult:
        """Run one call in the running event loop (sync tools in a worker thread)."""
        prepared = self._prepare(call)
        if isinstance(prepared, ToolResult):
            return prepared
        tool, kwargs = prepared
        started = self.clock()
        try:
            if tool.is_async:
                value = await _with_timeout(tool, kwargs)
            else:
                value = await asyncio.wait_for(_in_thread(tool, kwargs), tool.timeout_s)
            outcome: tuple[str, Any] = ("ok", value)
        except TimeoutError:
            outcome = ("timeout", tool.timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            outcome = ("raised", exc)
        return self._finish(call, started, outcome)

    async def arun_many(self, calls: Iterable[ToolCall]) -> list[ToolResult]:
        """Run one turn's calls: consecutive ``parallel_safe`` calls concurrently, the rest in
        order; results come back in call order."""
        results: list[ToolResult] = []
        batch: list[ToolCall] = []
        for call in calls:
            tool = self.tools.get(call.name)
            if tool is not None and tool.parallel_safe:
                batch.append(call)
                continue
            if batch:
                results += await asyncio.gather(*(self.arun(c) for c in batch))
                batch = []
            results.append(await self.arun(call))
        if batch:
            results += await asyncio.gather(*(self.arun(c) for c in batch))
        return results


async def _with_timeout(tool: Tool, kwargs: dict[str, Any]) -> Any:
    return await asyncio.wait_for(tool.fn(**kwargs), tool.timeout_s)


def _in_thread(tool: Tool, kwargs: dict[str, Any]) -> asyncio.Future[Any]:
    """Run a sync tool on a daemon thread of its own, so a hung tool holds no shared pool; the
    tool sees the caller's context (e.g. a running loop's)."""
    return thread_future(
        lambda: tool.fn(**kwargs),
        name=f"tether-tool-{tool.name}",
        context=contextvars.copy_context(),
    )


def _is_unavailable(exc: BaseException) -> bool:
    from tether.errors import MCPError

    return isinstance(exc, MCPError)
