"""The governed loop: Observe → Plan → Act → Evaluate, inside ceilings that always hold.

::

    from tether.loop import Loop
    from tether.tools import Workspace

    loop = Loop("make the tests in ./repo pass", tools=Workspace("repo").tools(),
                llm="anthropic/claude-sonnet-4-20250514", token_limit=200_000)
    result = loop.run()
    result.status, result.reason, result.recommended_action

Each iteration observes (``observe()``, optional), measures the goal
(``goal_metric``, optional; success ends the run before any token is spent),
makes one model call whose tool calls are validated, runs them (parallel-safe
ones concurrently), and lets the policies judge the iteration — ``NoProgress``
is on by default. Progress is credited to the iteration whose actions caused
it: the metric measured at the start of iteration *n+1* is the result of
iteration *n*.

Ceilings — iterations, tokens, wall clock, and optionally USD — are checked
before every model call and every tool batch. Before a model call the input
tokens of that call are estimated and counted, and its ``max_tokens`` is
clamped to what is left, so a run cannot overshoot its token ceiling by the
size of its own prompt. Reaching a ceiling returns a status, never raises.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tether.errors import PricingStale, ProviderError, TetherError
from tether.llm.client import LLM
from tether.llm.types import (
    Message,
    SystemMessage,
    ToolDefinition,
    ToolResultMessage,
    Usage,
    UserMessage,
)
from tether.loop.progress import (
    GoalMetric,
    IterationReport,
    MetricSnapshot,
    NoProgress,
    PolicyDecision,
    action_fingerprint,
)
from tether.loop.result import LoopExit, LoopResult, LoopStatus
from tether.loop.trace import Trace
from tether.tools.invoke import ToolRunner, render_output
from tether.tools.tool import Tool, ToolRegistry

__all__ = ["Loop", "NestedLoopError", "Policy"]

Policy = Callable[[IterationReport], PolicyDecision | None]
"""A policy judges each finished iteration; ``None`` means no opinion."""

_RUNNING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "tether_loop_running", default=False
)
_MAX_CONTINUATIONS = 2
_MIN_OUTPUT_TOKENS = 16
_SUMMARY_LINES = 40
_INVALID_STATUSES = ("invalid_arguments", "unknown_tool")


class NestedLoopError(TetherError):
    """``run()`` was called from inside a tool of a running loop (a loop cannot host itself)."""


def estimate_tokens(messages: Sequence[Message], tools: Sequence[Any]) -> int:
    """A conservative estimate of a request's input tokens: about 3 characters per token."""
    chars = 0
    for m in messages:
        chars += 16 + len(getattr(m, "text", "") or getattr(m, "content", ""))
        for call in getattr(m, "tool_calls", ()):
            chars += len(call.name) + len(json.dumps(call.arguments, default=str))
    for t in tools:
        chars += len(t.name) + len(t.description) + len(json.dumps(t.parameters))
    return chars // 3 + 1


class Loop:
    """A governed run toward ``goal``.

    Args:
        goal: what the run must achieve; in every prompt.
        tools: functions (schemas from their hints), :class:`~tether.tools.Tool` objects or a
            :class:`~tether.tools.ToolRegistry`.
        llm: an :class:`~tether.llm.LLM`, a ``"provider/model"`` name, or a pydantic-ai model
            (e.g. :class:`tether.testing.ScriptedModel`).
        observe: called at the start of each iteration; its result (text or anything
            JSON-able) is shown to the model and measured by ``goal_metric``.
        goal_metric: measures observations; success ends the run, its trend feeds progress.
        policies: judges of each iteration; default ``[NoProgress(3)]``. A plain function
            taking an :class:`IterationReport` works. A policy with an ``on_loop_event(event)``
            method also receives every trace event as it happens (see ``RegulatorPolicy``).
        exits: tools that end the run when they succeed: names (status SUCCESS) or a mapping
            name → status (e.g. ``{"done": "SUCCESS", "give_up": "NO_PROGRESS"}``). The run ends
            after the batch holding the first successful exit call; ``result.exit`` carries its
            name, arguments and return value, and ``result.text`` its output. An exit call that
            fails (the tool raised) goes back to the model like any error.
        max_iterations: ceiling on iterations.
        token_limit: ceiling on input + output tokens, estimated input counted before each call.
        wall_clock_s: ceiling on seconds since the run started.
        cost_limit_usd: optional USD ceiling; refused (status ERROR) when the model has no price.
        max_tokens_per_call: output limit of one model call (clamped to what is left).
        verbatim_iterations: iterations kept word for word in the prompt; older ones are
            summarised once, deterministically, one line each (keeps each call's size bounded).
        pinned: facts to keep in every prompt.
        trace_path: JSONL file receiving every event live.
        on_event: called with every event dict.
        abort: a ``threading.Event``; when set, the run stops at the next safe point (ABORTED).
        quiet: do not announce the ceilings on stderr at start.
        clock: monotonic seconds (injectable).
    """

    def __init__(
        self,
        goal: str,
        tools: Iterable[Callable[..., Any] | Tool] | ToolRegistry = (),
        llm: LLM | str | Any = None,
        *,
        observe: Callable[[], Any] | None = None,
        goal_metric: GoalMetric | None = None,
        policies: Sequence[Policy] | None = None,
        exits: Mapping[str, LoopStatus | str] | Iterable[str] = (),
        max_iterations: int = 20,
        token_limit: int = 500_000,
        wall_clock_s: float = 1800.0,
        cost_limit_usd: float | None = None,
        max_tokens_per_call: int = 4096,
        verbatim_iterations: int = 6,
        pinned: Sequence[str] = (),
        trace_path: str | os.PathLike[str] | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        abort: threading.Event | None = None,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if llm is None:
            raise TypeError(
                "Loop needs llm= (a 'provider/model' name, an LLM, or a scripted model)"
            )
        for name, value in (("max_iterations", max_iterations), ("token_limit", token_limit),
                            ("wall_clock_s", wall_clock_s), ("max_tokens_per_call", max_tokens_per_call)):  # fmt: skip
            if not value or value <= 0:
                raise ValueError(f"Loop {name} must be positive, got {value!r}")
        self.goal = goal
        self.llm = llm if isinstance(llm, LLM) else LLM(llm)
        self.runner = ToolRunner(_registry(tools), clock=clock)
        self.observe = observe
        self.goal_metric = goal_metric
        self.policies: list[Policy] = list(policies) if policies is not None else [NoProgress(3)]
        self.exits: dict[str, LoopStatus] = (
            {name: LoopStatus(status) for name, status in exits.items()}
            if isinstance(exits, Mapping)
            else dict.fromkeys(exits, LoopStatus.SUCCESS)
        )
        unknown = sorted(set(self.exits) - set(self.runner.tools.names()))
        if unknown:
            raise ValueError(f"Loop exits name tools that are not registered: {', '.join(unknown)}")
        self.max_iterations = max_iterations
        self.token_limit = token_limit
        self.wall_clock_s = wall_clock_s
        self.cost_limit_usd = cost_limit_usd
        self.max_tokens_per_call = max_tokens_per_call
        self.pinned = list(pinned)
        self.trace_path = trace_path
        self.on_event = on_event
        self.abort = abort
        self.quiet = quiet
        self.clock = clock
        self.verbatim_iterations = verbatim_iterations
        self.messages: list[Message] = []
        """The current iteration's messages (its prompt, the model's turns, tool results)."""
        self.history: list[list[Message]] = []
        """Finished iterations' messages, oldest first."""
        self.summaries: list[str] = []
        """One line per iteration that left the verbatim window, computed once and kept."""
        self._system: SystemMessage | None = None
        self._definitions: list[ToolDefinition] = []
        self.usage = Usage()
        self.cost_usd: float | None = 0.0
        self.reports: list[IterationReport] = []
        self.trace: Trace | None = None
        self._seen: set[str] = set()
        self._started = 0.0

    # -- running -----------------------------------------------------------------------------------

    def run(self) -> LoopResult:
        """Run to a status (blocking). Ctrl-C ends it as ABORTED.

        Raises:
            NestedLoopError: called from inside a tool of a running loop.
            ConfigError: the trace file cannot be written.
        """
        if _RUNNING.get():
            raise NestedLoopError(
                "Loop.run() called from inside a running loop's tool; return a result instead"
            )
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("Loop.run() inside a running event loop: use 'await loop.arun()'")
        try:
            return asyncio.run(self.arun())
        except KeyboardInterrupt:
            return self._finish(LoopStatus.ABORTED, "interrupted (Ctrl-C)", resumable=True)

    async def arun(self) -> LoopResult:
        """Run to a status (async form of :meth:`run`)."""
        if _RUNNING.get():
            raise NestedLoopError("Loop.arun() called from inside a running loop's tool")
        token = _RUNNING.set(True)
        self.trace = Trace(self.trace_path, on_event=self._dispatch)
        self._started = self.clock()
        try:
            return await self._run()
        except _ProviderStop as stop:
            return self._finish(
                LoopStatus.ERROR, f"model call failed: {stop.error}", resumable=True
            )
        except Exception as exc:
            return self._finish(LoopStatus.ERROR, f"{type(exc).__name__}: {exc}", resumable=False)
        finally:
            _RUNNING.reset(token)
            self.trace.close()

    def _dispatch(self, event: dict[str, Any]) -> None:
        """Hand each event to the user's ``on_event`` and to policies that watch events."""
        for policy in self.policies:
            watch = getattr(policy, "on_loop_event", None)
            if watch is not None:
                watch(event)
        if self.on_event is not None:
            self.on_event(event)

    def _announce(self) -> None:
        usd = f", ${self.cost_limit_usd:g}" if self.cost_limit_usd is not None else ""
        limits = f"{self.max_iterations} iterations, {self.token_limit:,} tokens, {self.wall_clock_s:g}s wall-clock{usd}"
        assert self.trace is not None
        self.trace.emit("loop.start", goal=self.goal, model=self.llm.model, limits=limits,
                        tools=self.runner.tools.names())  # fmt: skip
        if not self.quiet:
            print(f"tether loop: goal={self.goal[:60]!r} | limits: {limits}", file=sys.stderr)

    def _usd_refusal(self) -> str | None:
        if self.cost_limit_usd is None:
            return None
        try:
            self.llm.prices.check_ceiling(self.cost_limit_usd)
        except PricingStale as exc:
            return str(exc)
        if self.llm.prices.price(self.llm.model) is None:
            return (f"cost_limit_usd is set but {self.llm.model} has no price in the table, so the USD "
                    "ceiling could not be enforced; add a price (PriceTable.from_file) or use token_limit")  # fmt: skip
        return None

    async def _run(self) -> LoopResult:
        self._announce()
        refusal = self._usd_refusal()
        if refusal:
            return self._finish(LoopStatus.ERROR, refusal)
        self._system = SystemMessage(self._system_prompt())
        self._definitions = self.runner.definitions()
        self.messages = []
        previous: MetricSnapshot | None = None
        pending: IterationReport | None = None
        notes: list[str] = []
        plan_invalid_streak = 0
        last_text = ""
        for index in range(1, self.max_iterations + 2):
            stop = self._ceiling_reached()
            if stop is not None:
                return self._finish(
                    LoopStatus.BUDGET_EXHAUSTED, stop, resumable=True, text=last_text
                )
            if self.abort is not None and self.abort.is_set():
                return self._finish(
                    LoopStatus.ABORTED, "abort requested", resumable=True, text=last_text
                )
            assert self.trace is not None
            self.trace.emit("iteration.start", iteration=index)
            observation_text = ""
            if self.observe is not None:
                observation = self.observe()
                observation_text = (
                    observation
                    if isinstance(observation, str)
                    else json.dumps(observation, default=str)
                )
                if self.goal_metric is not None:
                    snapshot = self.goal_metric.measure(observation)
                    trend = snapshot.compare(previous)
                    self.trace.emit("metric", iteration=index, value=snapshot.value, detail=snapshot.detail,
                                    trend=trend, failing=sorted(snapshot.failing))  # fmt: skip
                    if pending is not None:  # credit the result to the iteration that acted
                        pending.metric, pending.trend = snapshot, trend
                    previous = snapshot
                    if snapshot.success:
                        return self._finish(LoopStatus.SUCCESS, f"goal metric reports success: {snapshot.detail}",
                                            text=last_text)  # fmt: skip
            if pending is not None:
                halt = self._judge(pending, notes)
                if halt is not None:
                    return self._finish(
                        _status(halt.status), halt.reason, resumable=True, text=last_text
                    )
                pending = None
            if index > self.max_iterations:
                break  # the extra pass only measured the last iteration's effect
            prompt = self._user_prompt(index, observation_text, notes)
            notes = []
            self._close_iteration()
            self.messages.append(UserMessage(prompt))

            response, stop = await self._plan(index)
            if stop is not None:
                return self._finish(
                    LoopStatus.BUDGET_EXHAUSTED, stop, resumable=True, text=last_text
                )
            assert response is not None
            last_text = response.text or last_text
            report = IterationReport(
                index=index, tool_calls=list(response.tool_calls), text=response.text
            )
            if not response.tool_calls:
                report.text_only = True
                if self.goal_metric is None:
                    return self._finish(
                        LoopStatus.SUCCESS, "the model gave its final answer", text=response.text
                    )
                self.trace.emit("model.claim", iteration=index, text=response.text[:2000])
            else:
                stop = self._ceiling_reached()
                if stop is not None:
                    return self._finish(
                        LoopStatus.BUDGET_EXHAUSTED, stop, resumable=True, text=last_text
                    )
                invalid_exhausted, exit_ = await self._act(index, response.tool_calls, report)
                if exit_ is not None:
                    self.reports.append(report)
                    self.trace.emit("iteration.end", iteration=index, tool_calls=len(report.tool_calls),
                                    repeated=len(report.repeated), invalid=report.invalid, exit=exit_.tool)  # fmt: skip
                    status = self.exits[exit_.tool]
                    return self._finish(status, f"the model called {exit_.tool}", resumable=False,
                                        text=render_output(exit_.value), exit=exit_)  # fmt: skip
                if invalid_exhausted:
                    plan_invalid_streak += 1
                    self.trace.emit(
                        "iteration.plan_invalid", iteration=index, streak=plan_invalid_streak
                    )
                    if plan_invalid_streak >= 2:
                        return self._finish(LoopStatus.PLAN_FAILED,
                                            "two iterations in a row ended with invalid tool calls after their retries",
                                            resumable=False, text=last_text)  # fmt: skip
                else:
                    plan_invalid_streak = 0
                    if not report.invalid:
                        self.runner.new_turn()
            self.reports.append(report)
            self.trace.emit("iteration.end", iteration=index, tool_calls=len(report.tool_calls),
                            repeated=len(report.repeated), invalid=report.invalid, text_only=report.text_only)  # fmt: skip
            if self.goal_metric is None or self.observe is None:
                halt = self._judge(report, notes)
                if halt is not None:
                    return self._finish(
                        _status(halt.status), halt.reason, resumable=True, text=last_text
                    )
            else:
                pending = report  # judged once the next observation shows its effect
        return self._finish(LoopStatus.BUDGET_EXHAUSTED, f"iterations ceiling reached ({self.max_iterations})",
                            resumable=True, text=last_text)  # fmt: skip

    # -- context -----------------------------------------------------------------------------------

    def conversation(self) -> list[Message]:
        """What the next model call sends: the system prompt (goal, facts), one message
        summarising the iterations older than the verbatim window, the last
        ``verbatim_iterations`` iterations verbatim, and the current one."""
        assert self._system is not None
        out: list[Message] = [self._system]
        if self.summaries:
            shown = self.summaries[-_SUMMARY_LINES:]
            dropped = len(self.summaries) - len(shown)
            head = f"({dropped} earlier iterations not shown)\n" if dropped else ""
            out.append(UserMessage("EARLIER ITERATIONS (summary):\n" + head + "\n".join(shown)))
        for past in self.history[len(self.summaries) :]:
            out.extend(past)
        out.extend(self.messages)
        return out

    def _close_iteration(self) -> None:
        """Move the current iteration's messages to the history; summarise what leaves the window."""
        if self.messages:
            self.history.append(self.messages)
            self.messages = []
        while len(self.history) - len(self.summaries) > self.verbatim_iterations:
            done = len(self.summaries)
            self.summaries.append(_summarise(done + 1, self.history[done]))

    # -- steps -------------------------------------------------------------------------------------

    def _ceiling_reached(self) -> str | None:
        elapsed = self.clock() - self._started
        if elapsed >= self.wall_clock_s:
            return f"wall-clock ceiling reached ({elapsed:.1f} of {self.wall_clock_s:g} s)"
        if self.usage.total_tokens >= self.token_limit:
            return f"token ceiling reached ({self.usage.total_tokens:,} of {self.token_limit:,})"
        if self.cost_limit_usd is not None and (self.cost_usd or 0.0) >= self.cost_limit_usd:
            return f"USD ceiling reached (${self.cost_usd:.4f} of ${self.cost_limit_usd:g})"
        return None

    async def _plan(self, index: int) -> tuple[Any, str | None]:
        """One model call (plus bounded continuations of a cut-off answer)."""
        assert self.trace is not None
        text_parts: list[str] = []
        for attempt in range(_MAX_CONTINUATIONS + 1):
            definitions = self._definitions
            conversation = self.conversation()
            estimate = estimate_tokens(conversation, definitions)
            left = self.token_limit - self.usage.total_tokens - estimate
            if left < _MIN_OUTPUT_TOKENS:
                return None, (f"token ceiling: the next call needs about {estimate:,} input tokens and only "
                              f"{self.token_limit - self.usage.total_tokens:,} are left")  # fmt: skip
            max_tokens = min(self.max_tokens_per_call, left)
            price = (
                self.llm.prices.price(self.llm.model) if self.cost_limit_usd is not None else None
            )
            if self.cost_limit_usd is not None and price is not None:
                projected = (self.cost_usd or 0.0) + estimate * price.input / 1e6
                if projected >= self.cost_limit_usd:
                    return (
                        None,
                        f"USD ceiling: the next call would cost about ${projected:.4f} in total",
                    )
                room = self.cost_limit_usd - projected
                max_tokens = max(1, min(max_tokens, int(room * 1e6 / price.output)))
            try:
                response = await self.llm.acomplete(
                    conversation, definitions, max_tokens=max_tokens
                )
            except ProviderError as exc:
                raise _ProviderStop(exc) from None
            self.usage.add(response.usage)
            if response.cost_usd is None:
                self.cost_usd = None if self.cost_limit_usd is None else self.cost_usd
            elif self.cost_usd is not None:
                self.cost_usd += response.cost_usd
            self.trace.emit("llm.call", iteration=index, model=response.model, max_tokens=max_tokens,
                            estimated_input=estimate, input_tokens=response.usage.input_tokens,
                            output_tokens=response.usage.output_tokens, finish=response.finish_reason,
                            tool_calls=[c.name for c in response.tool_calls], cost_usd=response.cost_usd,
                            text=response.text[:20_000])  # fmt: skip
            self.messages.append(response.message())
            text_parts.append(response.text)
            if (
                response.finish_reason != "length"
                or response.tool_calls
                or attempt == _MAX_CONTINUATIONS
            ):
                response.text = "".join(text_parts)
                return response, None
            self.messages.append(
                UserMessage(
                    "Your answer was cut off by the output limit. Continue exactly where it stopped."
                )
            )
            self.trace.emit("llm.continue", iteration=index, attempt=attempt + 1)
        raise AssertionError("unreachable: the last attempt always returns")

    async def _act(
        self, index: int, calls: Sequence[Any], report: IterationReport
    ) -> tuple[bool, LoopExit | None]:
        """Run the calls; returns (an invalid call used up its corrections, the first
        successful exit call)."""
        assert self.trace is not None
        for call in calls:
            fingerprint = action_fingerprint(call)
            if fingerprint in self._seen:
                report.repeated.append(fingerprint)
            self._seen.add(fingerprint)
            self.trace.emit("tool.call", iteration=index, tool=call.name, call_id=call.id,
                            arguments=call.arguments, repeated=fingerprint in report.repeated)  # fmt: skip
        token = _RUNNING.set(True)
        try:
            results = await self.runner.arun_many(calls)
        finally:
            _RUNNING.reset(token)
        exhausted = False
        exit_: LoopExit | None = None
        for call, result in zip(calls, results, strict=True):
            if exit_ is None and result.ok and call.name in self.exits:
                arguments = call.arguments if isinstance(call.arguments, dict) else {}
                exit_ = LoopExit(call.name, arguments, result.value)
            if result.status in _INVALID_STATUSES:
                report.invalid += 1
                exhausted = exhausted or self.runner.exhausted(call.name)
            self.trace.emit("tool.result", iteration=index, tool=call.name, call_id=call.id, status=result.status,
                            truncated=result.truncated, duration_s=round(result.duration_s, 4),
                            content=result.content[:4000])  # fmt: skip
            self.messages.append(
                ToolResultMessage(call.id, call.name, result.content, not result.ok)
            )
        return exhausted, exit_

    def _judge(self, report: IterationReport, notes: list[str]) -> PolicyDecision | None:
        """Ask every policy about ``report``; returns the first STOP, else adds their messages
        (one note) to ``notes`` for the next prompt and returns ``None``."""
        assert self.trace is not None
        messages: list[str] = []
        for policy in self.policies:
            decision = policy(report)
            if decision is None:
                continue
            self.trace.emit("policy.decision", iteration=report.index, policy=_name(policy),
                            stop=decision.stop, status=decision.status, reason=decision.reason)  # fmt: skip
            if decision.stop:
                return decision  # a STOP is a stop: never turned into a question or a nudge
            if decision.message:
                messages.append(decision.message)
        if messages:
            notes.append("\n".join(messages))
        return None

    # -- prompts -----------------------------------------------------------------------------------

    def _system_prompt(self) -> str:
        lines = [
            "You are working toward a goal inside a governed loop with hard limits.",
            f"GOAL: {self.goal}",
            "Act with the tools; each turn, call the tools that move toward the goal.",
            "Do not repeat an action that already failed; try something different.",
        ]
        if self.goal_metric is None:
            lines.append("When the goal is reached, answer with a short summary and no tool call.")
        else:
            lines.append(
                "The goal is checked by a measurement after your actions, not by your own claim."
            )
        if self.pinned:
            lines.append("FACTS:\n" + "\n".join(f"- {fact}" for fact in self.pinned))
        return "\n".join(lines)

    def _user_prompt(self, index: int, observation: str, notes: list[str]) -> str:
        parts = [f"Iteration {index} of at most {self.max_iterations}. GOAL: {self.goal}"]
        if observation:
            parts.append(f"OBSERVATION:\n{_tail(observation, 12_000)}")
        failed = self._failed_approaches()
        if failed:
            parts.append("ALREADY TRIED WITHOUT PROGRESS:\n" + "\n".join(f"- {f}" for f in failed))
        parts += notes
        return "\n\n".join(parts)

    def _failed_approaches(self) -> list[str]:
        out: list[str] = []
        for report in self.reports[-5:]:
            if not report.productive:
                for call in report.tool_calls:
                    out.append(f"{call.name}({json.dumps(call.arguments, default=str)[:200]})")
        return out[-10:]

    # -- ending ------------------------------------------------------------------------------------

    def _finish(
        self,
        status: LoopStatus,
        reason: str,
        *,
        resumable: bool = False,
        text: str = "",
        exit: LoopExit | None = None,
    ) -> LoopResult:
        result = LoopResult(exit=exit,
            status=status, reason=reason, resumable=resumable, text=text, usage=self.usage,
            cost_usd=self.cost_usd, iterations=len(self.reports),
            signals=[f"iteration {r.index}: {r.trend}" for r in self.reports if r.trend == "regressed"],
        )  # fmt: skip
        if self.trace is not None:
            self.trace.emit("loop.end", status=status.value, reason=reason, resumable=resumable,
                            recommended_action=result.recommended_action, input_tokens=self.usage.input_tokens,
                            output_tokens=self.usage.output_tokens, iterations=result.iterations)  # fmt: skip
        return result


class _ProviderStop(Exception):
    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


def _registry(tools: Iterable[Callable[..., Any] | Tool] | ToolRegistry) -> ToolRegistry:
    if isinstance(tools, ToolRegistry):
        return tools
    registry = ToolRegistry()
    for entry in tools:
        registry.add(entry if isinstance(entry, Tool) else Tool.from_function(entry))
    return registry


def _status(value: str) -> LoopStatus:
    try:
        return LoopStatus(value)
    except ValueError:
        return LoopStatus.NO_PROGRESS


def _name(policy: Any) -> str:
    return getattr(policy, "__name__", type(policy).__name__)


def _summarise(index: int, messages: list[Message]) -> str:
    """One deterministic line for a past iteration: its calls and how each ended."""
    calls: list[str] = []
    outcomes: dict[str, str] = {}
    text = ""
    for m in messages:
        if isinstance(m, ToolResultMessage):
            outcomes[m.call_id] = "error" if m.is_error else "ok"
    for m in messages:
        for c in getattr(m, "tool_calls", ()):
            args = json.dumps(c.arguments, default=str, sort_keys=True)
            calls.append(f"{c.name}({args[:80]}) -> {outcomes.get(c.id, '?')}")
        if getattr(m, "role", "") == "assistant" and getattr(m, "text", ""):
            text = " ".join(m.text.split())[:120]  # type: ignore[union-attr]
    said = f' said "{text}"' if text else ""
    return f"- iteration {index}: " + ("; ".join(calls) or "no tool call") + said


def _tail(text: str, limit: int) -> str:
    """The end of ``text`` (where test runners and compilers print failures and exit codes)."""
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters omitted ...]\n{text[-limit:]}"
