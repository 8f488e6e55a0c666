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

With ``state_path`` every step is saved (see :mod:`.state`: a snapshot plus an
append-only journal, constant cost per step) and :meth:`Loop.resume` continues
the run, deterministically: stored summaries are reused, never recomputed.
Actions gated by :class:`~tether.loop.approval.RequireApproval` wait for an
approval runner; a headless run pauses with a token (see :mod:`.approval`).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tether.errors import PricingStale, ProviderError, TetherError
from tether.llm.client import LLM
from tether.llm.types import (
    Message,
    SystemMessage,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    Usage,
    UserMessage,
    message_to_dict,
)
from tether.loop import _gating as gating
from tether.loop import _persist
from tether.loop.approval import (
    ApprovalError,
    ApprovalRunner,
    HeadlessApproval,
    RequireApproval,
)
from tether.loop.budget import BudgetReport, CostLimit
from tether.loop.otel import SpanRecorder
from tether.loop.progress import (
    GoalMetric,
    IterationReport,
    MetricSnapshot,
    NoProgress,
    PolicyDecision,
    action_fingerprint,
)
from tether.loop.result import LoopExit, LoopResult, LoopStatus
from tether.loop.state import (
    KEEP_REPORTS,
    KEEP_SEEN,
    KEEP_SUMMARIES,
    ArtifactDriftError,
    LoopState,
    SchemaChangedError,
    StateError,
    StateFile,
)
from tether.loop.summary import DeterministicSummarizer, Summarizer
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
_INVALID_STATUSES = ("invalid_arguments", "unknown_tool")
_EXTENDABLE = ("max_iterations", "token_limit", "wall_clock_s", "cost_limit_usd", "max_tool_calls")


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
            method also receives every trace event as it happens (see ``RegulatorPolicy``);
            one with ``state()``/``restore(data)`` is saved with the run. Two policies act
            before actions rather than after: :class:`~tether.loop.approval.RequireApproval`
            gates actions, :class:`~tether.loop.budget.CostLimit` sets a USD ceiling.
        exits: tools that end the run when they succeed: names (status SUCCESS) or a mapping
            name → status (e.g. ``{"done": "SUCCESS", "give_up": "NO_PROGRESS"}``). The run ends
            after the batch holding the first successful exit call; ``result.exit`` carries its
            name, arguments and return value, and ``result.text`` its output. An exit call that
            fails (the tool raised) goes back to the model like any error.
        max_iterations: ceiling on iterations.
        token_limit: ceiling on input + output tokens, estimated input counted before each call.
        wall_clock_s: ceiling on seconds of running (summed over resumed sessions).
        cost_limit_usd: optional USD ceiling; refused (status ERROR) when the model has no price.
        max_tokens_per_call: output limit of one model call (clamped to what is left).
        max_tool_calls: optional ceiling on tool calls run (exit calls not counted). Checked
            before each model call and each call of a batch: calls past it are not run (the
            model is told) and the run ends BUDGET_EXHAUSTED.
        verbatim_iterations: iterations kept word for word in the prompt; older ones are
            summarised once, one line each (keeps each call's size bounded).
        summarizer: writes those lines (default :class:`~tether.loop.summary.DeterministicSummarizer`;
            :class:`~tether.loop.summary.ModelSummarizer` for a cheaper model).
        pinned: facts to keep in every prompt.
        state_path: save the run here after every step (resume with :meth:`Loop.resume`).
        trace_path: JSONL file receiving every event live.
        on_event: called with every event dict.
        approval_runner: decides gated actions (default: ask on the terminal when there is one,
            else pause headless when ``state_path`` is set, else deny).
        abort: a ``threading.Event``; when set, the run stops at the next safe point (ABORTED).
        quiet: do not announce the ceilings on stderr at start.
        otel: OpenTelemetry spans through opentelemetry-api when it is importable (``True``),
            none (``False``), or spans to this ``TracerProvider``.
        clock: monotonic seconds (injectable).

    Raises:
        TypeError: no ``llm``.
        ValueError: a ceiling is not positive, or ``exits`` names an unregistered tool.
    """

    def __init__(
        self,
        goal: str,
        tools: Iterable[Callable[..., Any] | Tool] | ToolRegistry = (),
        llm: LLM | str | Any = None,
        *,
        observe: Callable[[], Any] | None = None,
        goal_metric: GoalMetric | None = None,
        policies: Sequence[Policy | RequireApproval | CostLimit] | None = None,
        exits: Mapping[str, LoopStatus | str] | Iterable[str] = (),
        max_iterations: int = 20,
        token_limit: int = 500_000,
        wall_clock_s: float = 1800.0,
        cost_limit_usd: float | None = None,
        max_tokens_per_call: int = 4096,
        max_tool_calls: int | None = None,
        verbatim_iterations: int = 6,
        summarizer: Summarizer | None = None,
        pinned: Sequence[str] = (),
        state_path: str | os.PathLike[str] | None = None,
        trace_path: str | os.PathLike[str] | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        approval_runner: ApprovalRunner | None = None,
        abort: threading.Event | None = None,
        quiet: bool = False,
        otel: bool | Any = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if llm is None:
            raise TypeError(
                "Loop needs llm= (a 'provider/model' name, an LLM, or a scripted model)"
            )
        for name, value in (
            ("max_iterations", max_iterations),
            ("token_limit", token_limit),
            ("wall_clock_s", wall_clock_s),
            ("max_tokens_per_call", max_tokens_per_call),
        ):
            if not value or value <= 0:
                raise ValueError(f"Loop {name} must be positive, got {value!r}")
        self.goal = goal
        self.llm = llm if isinstance(llm, LLM) else LLM(llm)
        self.runner = ToolRunner(_registry(tools), clock=clock)
        self.observe = observe
        self.goal_metric = goal_metric
        self.policies: list[Any] = list(policies) if policies is not None else [NoProgress(3)]
        _check_declared_statuses(self.policies)
        self._approvals = [p for p in self.policies if isinstance(p, RequireApproval)]
        usd_limits = [p.usd for p in self.policies if isinstance(p, CostLimit)]
        if cost_limit_usd is not None:
            usd_limits.append(cost_limit_usd)
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
        self.cost_limit_usd = min(usd_limits) if usd_limits else None
        self.max_tokens_per_call = max_tokens_per_call
        if max_tool_calls is not None and max_tool_calls <= 0:
            raise ValueError(f"Loop max_tool_calls must be positive, got {max_tool_calls!r}")
        self.max_tool_calls = max_tool_calls
        self.tool_calls_made = 0
        """Tool calls run so far (exit calls not counted), over resumed sessions too."""
        self.verbatim_iterations = verbatim_iterations
        self.summarizer: Summarizer = summarizer or DeterministicSummarizer()
        self.pinned = list(pinned)
        self.state_path = Path(state_path) if state_path is not None else None
        self.trace_path = trace_path
        self.on_event = on_event
        self.approval_runner = approval_runner
        if isinstance(approval_runner, HeadlessApproval) and self.state_path is None:
            raise ValueError("HeadlessApproval pauses the run to resume later: set state_path too")
        self.abort = abort
        self.quiet = quiet
        self.otel = otel
        self._spans: SpanRecorder | None = None
        self.clock = clock
        self.messages: list[Message] = []
        """The current iteration's messages (its prompt, the model's turns, tool results)."""
        self.history: list[list[Message]] = []
        """Finished iterations not yet summarised, oldest first (at most ``verbatim_iterations``)."""
        self.summaries: list[str] = []
        """The most recent summary lines (one per iteration that left the verbatim window)."""
        self.summarised = 0
        """Iterations summarised over the whole run."""
        self.iteration = 0
        """Iterations finished."""
        self.usage = Usage()
        self.cost_usd: float | None = 0.0
        self.reports: list[IterationReport] = []
        """The most recent judged iterations."""
        self.signals: list[str] = []
        self.trace: Trace | None = None
        self._system: SystemMessage | None = None
        self._definitions: list[ToolDefinition] = []
        self._seen: dict[str, None] = {}  # an ordered set: the oldest are forgotten first
        self._started = 0.0
        self._elapsed_before = 0.0
        self._previous: MetricSnapshot | None = None
        self._pending: IterationReport | None = None
        self._notes: list[str] = []
        self._plan_invalid_streak = 0
        self._last_text = ""
        self._observation_text = ""
        self._pending_approval: dict[str, Any] | None = None
        self._approval_answer: dict[str, Any] | None = None
        self._used_tokens: list[str] = []
        self._state: LoopState | None = None
        self._state_file: StateFile | None = None
        self._resumed = False
        self._interrupted: threading.Event | None = None
        self._added: dict[str, list[Any]] = {name: [] for name in LoopState.APPENDED}

    # -- running -----------------------------------------------------------------------------------

    def run(self) -> LoopResult:
        """Run to a status (blocking).

        The first Ctrl-C stops the run at the next safe point (before the next model call or
        tool batch) as ABORTED, resumable from its state; a second one stops it at once.

        Raises:
            NestedLoopError: called from inside a tool of a running loop.
            ConfigError: the trace file cannot be written.
            StateError: ``state_path`` cannot be written, or holds an unfinished run.
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
        interrupted = threading.Event()
        previous = _install_interrupt(interrupted, self.quiet)
        self._interrupted = interrupted
        try:
            return asyncio.run(self.arun())
        except KeyboardInterrupt:
            try:
                self.trace = Trace(self.trace_path, on_event=self.on_event)  # the run's was closed
            except TetherError:
                self.trace = None
            try:
                return self._finish(
                    LoopStatus.ABORTED,
                    "interrupted (Ctrl-C twice)",
                    resumable=True,
                    text=self._last_text,
                )
            finally:
                if self.trace is not None:
                    self.trace.close()
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    async def arun(self) -> LoopResult:
        """Run to a status (async form of :meth:`run`)."""
        if _RUNNING.get():
            raise NestedLoopError("Loop.arun() called from inside a running loop's tool")
        self._spans = (
            None
            if self.otel is False
            else SpanRecorder.if_available(None if self.otel is True else self.otel)
        )
        self.trace = Trace(self.trace_path, on_event=self._dispatch)
        try:
            _persist.open_state(self)
        except BaseException:
            self.trace.close()
            raise
        token = _RUNNING.set(True)
        self._started = self.clock() - self._elapsed_before
        try:
            return await self._run()
        except _ProviderStop as stop:
            return self._finish(
                LoopStatus.ERROR,
                f"model call failed: {stop.error}",
                resumable=True,
                text=self._last_text,
            )
        except StateError as exc:
            return self._finish(LoopStatus.ERROR, f"cannot save the state: {exc}", resumable=True)
        except UnknownStatus:
            raise  # a policy's programming error, not a way for the run to end
        except Exception as exc:
            return self._finish(LoopStatus.ERROR, f"{type(exc).__name__}: {exc}", resumable=False)
        finally:
            _RUNNING.reset(token)
            self.trace.close()
            _persist.close_state(self)
            if self._spans is not None:
                self._spans.close()

    def _dispatch(self, event: dict[str, Any]) -> None:
        """Hand each event to the span recorder, policies that watch events, and ``on_event``."""
        if self._spans is not None:
            self._spans(event)
        for policy in self.policies:
            watch = getattr(policy, "on_loop_event", None)
            if watch is not None:
                watch(event)
        if self.on_event is not None:
            self.on_event(event)

    def _limits_text(self) -> str:
        usd = f", ${self.cost_limit_usd:g}" if self.cost_limit_usd is not None else ""
        return f"{self.max_iterations} iterations, {self.token_limit:,} tokens, {self.wall_clock_s:g}s wall-clock{usd}"

    def _announce(self) -> None:
        limits = self._limits_text()
        assert self.trace is not None
        if self._resumed:
            self.trace.emit(
                "loop.resumed",
                goal=self.goal,
                model=self.llm.model,
                limits=limits,
                iteration=self.iteration,
                tools=self.runner.tools.names(),
            )
        else:
            self.trace.emit(
                "loop.start",
                goal=self.goal,
                model=self.llm.model,
                limits=limits,
                tools=self.runner.tools.names(),
            )
        if not self.quiet:
            verb = f"resuming at iteration {self.iteration + 1}" if self._resumed else "goal"
            print(f"tether loop: {verb}={self.goal[:60]!r} | limits: {limits}", file=sys.stderr)

    def _usd_refusal(self) -> str | None:
        if self.cost_limit_usd is None:
            return None
        try:
            self.llm.prices.check_ceiling(self.cost_limit_usd)
        except PricingStale as exc:
            return str(exc)
        if self.llm.prices.price(self.llm.model) is None:
            return (
                f"cost_limit_usd is set but {self.llm.model} has no price in the table, so the USD "
                "ceiling could not be enforced; add a price (PriceTable.from_file) or use token_limit"
            )
        return None

    async def _run(self) -> LoopResult:
        self._announce()
        refusal = self._usd_refusal()
        if refusal:
            return self._finish(LoopStatus.ERROR, refusal)
        self._system = SystemMessage(self._system_prompt())
        self._definitions = self.runner.definitions()
        if self._pending_approval is not None:
            settled = await gating.settle(self)
            if settled is not None:
                return settled
        else:
            self.messages = []
        while True:
            result = await self._iteration(self.iteration + 1)
            if result is not None:
                return result

    async def _iteration(self, index: int) -> LoopResult | None:
        """One Observe → Plan → Act → Evaluate pass; a result when the run ends."""
        assert self.trace is not None
        stop = self._ceiling_reached()
        if stop is not None:
            return self._finish(
                LoopStatus.BUDGET_EXHAUSTED, stop, resumable=True, text=self._last_text
            )
        stop = self._abort_requested()
        if stop is not None:
            return self._finish(LoopStatus.ABORTED, stop, resumable=True, text=self._last_text)
        beyond = (
            index > self.max_iterations
        )  # a last pass only to measure the last iteration's effect
        if beyond and self._pending is None:
            return self._finish(
                LoopStatus.BUDGET_EXHAUSTED,
                f"iterations ceiling reached ({self.max_iterations})",
                resumable=True,
                text=self._last_text,
            )
        if not beyond:
            self.trace.emit("iteration.start", iteration=index)
        observation = self._take_observation()
        if observation is not None and self.goal_metric is not None:
            snapshot = self.goal_metric.measure(observation)
            trend = snapshot.compare(self._previous)
            self.trace.emit(
                "metric",
                iteration=index,
                value=snapshot.value,
                detail=snapshot.detail,
                trend=trend,
                failing=sorted(snapshot.failing),
            )
            if self._pending is not None:  # credit the result to the iteration that acted
                self._pending.metric, self._pending.trend = snapshot, trend
            self._previous = snapshot
            if snapshot.success:
                if self._pending is not None:
                    self._record_report(self._pending)
                    self._pending = None
                return self._finish(
                    LoopStatus.SUCCESS,
                    f"goal metric reports success: {snapshot.detail}",
                    text=self._last_text,
                )
        if self._pending is not None:
            pending, self._pending = self._pending, None
            halt = self._judge(pending)
            if halt is not None:
                return self._finish(
                    _status(halt.status), halt.reason, resumable=True, text=self._last_text
                )
        if index > self.max_iterations:
            return self._finish(
                LoopStatus.BUDGET_EXHAUSTED,
                f"iterations ceiling reached ({self.max_iterations})",
                resumable=True,
                text=self._last_text,
            )
        prompt = self._user_prompt(index, self._observation_text, self._notes)
        self._notes = []
        self.messages = [UserMessage(prompt)]

        response, stop = await self._plan(index)
        if stop is not None:
            return self._finish(
                LoopStatus.BUDGET_EXHAUSTED, stop, resumable=True, text=self._last_text
            )
        assert response is not None
        self._last_text = response.text or self._last_text
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
            return await self._end_iteration(report)
        stop = self._ceiling_reached()
        if stop is not None:
            return self._finish(
                LoopStatus.BUDGET_EXHAUSTED, stop, resumable=True, text=self._last_text
            )
        stop = self._abort_requested()
        if stop is not None:  # the planned calls are not run; a resume plans this iteration again
            self.messages = []
            return self._finish(LoopStatus.ABORTED, stop, resumable=True, text=self._last_text)
        gate = await gating.gate(self, index, report)
        if isinstance(gate, LoopResult):
            return gate
        return await self._act_and_end(report, denied=gate)

    async def _act_and_end(
        self, report: IterationReport, denied: dict[str, str]
    ) -> LoopResult | None:
        assert self.trace is not None
        index = report.index
        invalid_exhausted, exit_ = await self._act(index, report.tool_calls, report, denied)
        if exit_ is not None:
            self._record_report(report)
            self.trace.emit(
                "iteration.end",
                iteration=index,
                tool_calls=len(report.tool_calls),
                repeated=len(report.repeated),
                invalid=report.invalid,
                exit=exit_.tool,
            )
            self.iteration = index
            return self._finish(
                self.exits[exit_.tool],
                f"the model called {exit_.tool}",
                text=render_output(exit_.value),
                exit=exit_,
            )
        if invalid_exhausted:
            self._plan_invalid_streak += 1
            self.trace.emit(
                "iteration.plan_invalid", iteration=index, streak=self._plan_invalid_streak
            )
            if self._plan_invalid_streak >= 2:
                return self._finish(
                    LoopStatus.PLAN_FAILED,
                    "two iterations in a row ended with invalid tool calls after their retries",
                    text=self._last_text,
                )
        else:
            self._plan_invalid_streak = 0
            if not report.invalid:
                self.runner.new_turn()
        return await self._end_iteration(report)

    async def _end_iteration(self, report: IterationReport) -> LoopResult | None:
        """Close the iteration: trace it, judge it (now, or once its effect is measured), save."""
        assert self.trace is not None
        index = report.index
        self.trace.emit(
            "iteration.end",
            iteration=index,
            tool_calls=len(report.tool_calls),
            repeated=len(report.repeated),
            invalid=report.invalid,
            text_only=report.text_only,
        )
        self.iteration = index
        await self._close_iteration()
        if self.goal_metric is None or self.observe is None:
            halt = self._judge(report)
            if halt is not None:
                return self._finish(
                    _status(halt.status), halt.reason, resumable=True, text=self._last_text
                )
        else:
            self._pending = report  # judged once the next observation shows its effect
        _persist.save(self)
        return None

    def _abort_requested(self) -> str | None:
        if self._interrupted is not None and self._interrupted.is_set():
            return "interrupted (Ctrl-C)"
        if self.abort is not None and self.abort.is_set():
            return "abort requested"
        return None

    def _take_observation(self) -> Any:
        """Call ``observe()`` (if any); keeps its text for the prompt and approvals."""
        if self.observe is None:
            self._observation_text = ""
            return None
        observation = self.observe()
        self._observation_text = (
            observation if isinstance(observation, str) else json.dumps(observation, default=str)
        )
        return observation

    # -- resume ------------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        tools: Iterable[Callable[..., Any] | Tool] | ToolRegistry = (),
        llm: LLM | str | Any = None,
        extend: Mapping[str, float] | None = None,
        allow_schema_change: bool = False,
        allow_artifact_drift: bool = False,
        **options: Any,
    ) -> Loop:
        """A loop rebuilt from the state saved at ``path``, ready to :meth:`run` on.

        Args:
            path: the ``state_path`` of the saved run.
            tools, llm: as for the constructor (they are code, so they are not saved).
            extend: added to the saved ceilings, e.g. ``{"max_iterations": 10, "token_limit": 50_000}``
                (keys: ``max_iterations``, ``token_limit``, ``wall_clock_s``, ``cost_limit_usd``,
                ``max_tool_calls``).
            allow_schema_change: accept tools whose schema changed since the save.
            allow_artifact_drift: reuse summaries written by another summariser version.
            options: other constructor arguments (``observe``, ``goal_metric``, ``policies``,
                ``exits``, ``trace_path``, ``approval_runner``, ``summarizer`` ...).

        Raises:
            StateError: no state at ``path``; StateCorrupt / StateVersionError: it cannot be read.
            SchemaChangedError: a tool's schema differs from the saved one.
            ArtifactDriftError: the saved summaries come from another summariser.
            ValueError: an unknown ``extend`` key or a negative extension.
        """
        state = StateFile(path).load()
        if state.status and state.status not in _persist.RESUMABLE_END:
            raise StateError(
                f"{path}: the run ended {state.status} ({state.reason}); nothing to resume", path
            )
        limits = dict(state.limits)
        for key, amount in (extend or {}).items():
            if key not in _EXTENDABLE:
                raise ValueError(
                    f"extend: unknown ceiling {key!r} (one of {', '.join(_EXTENDABLE)})"
                )
            if amount < 0:
                raise ValueError(f"extend: {key} must not be negative")
            limits[key] = (limits.get(key) or 0) + amount
        options.setdefault("trace_path", state.trace_path)
        options.setdefault("quiet", False)
        loop = cls(
            state.goal,
            tools,
            llm,
            pinned=state.pinned,
            state_path=path,
            max_iterations=int(limits["max_iterations"]),
            token_limit=int(limits["token_limit"]),
            wall_clock_s=float(limits["wall_clock_s"]),
            cost_limit_usd=limits.get("cost_limit_usd"),
            max_tokens_per_call=int(limits["max_tokens_per_call"]),
            max_tool_calls=limits.get("max_tool_calls"),
            verbatim_iterations=int(limits["verbatim_iterations"]),
            **options,
        )
        current = _persist.schemas(loop)
        changed = sorted(
            name
            for name in set(state.tool_schemas) | set(current)
            if state.tool_schemas.get(name) != current.get(name)
        )
        if changed and not allow_schema_change:
            raise SchemaChangedError(
                f"{path}: the schema of {', '.join(changed)} changed since the state was saved; "
                "the saved conversation used the old one (pass allow_schema_change=True to go on)",
                path,
                changed,
            )
        if state.summariser != loop.summarizer.version and not allow_artifact_drift:
            raise ArtifactDriftError(
                f"{path}: the saved summaries were written by {state.summariser!r}, this loop's "
                f"summariser is {loop.summarizer.version!r} (pass allow_artifact_drift=True to reuse them)",
                path,
                state.summariser,
                loop.summarizer.version,
            )
        _persist.restore(loop, state)
        return loop

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike[str],
        *,
        tools: Iterable[Callable[..., Any] | Tool] | ToolRegistry = (),
        llm: LLM | str | Any = None,
        extend: Mapping[str, float] | None = None,
        approval: Mapping[str, Any] | None = None,
        allow_schema_change: bool = False,
        allow_artifact_drift: bool = False,
        **options: Any,
    ) -> LoopResult:
        """Continue the run saved at ``path`` and run it to a status (see :meth:`load`).

        Args:
            approval: the answer to a pending approval, ``{"token": "apv_...", "approved": True}``.
                Without it, a decision recorded by ``tether approve/deny`` is used; with neither,
                the run stays AWAITING_APPROVAL (or PENDING_EXPIRED once the token expired).

        Raises:
            ApprovalError: ``approval`` names a token that is unknown to this run or already used.
            (and what :meth:`load` raises)
        """
        loop = cls.load(
            path,
            tools=tools,
            llm=llm,
            extend=extend,
            allow_schema_change=allow_schema_change,
            allow_artifact_drift=allow_artifact_drift,
            **options,
        )
        loop.answer_approval(approval)
        return loop.run()

    @classmethod
    async def aresume(
        cls,
        path: str | os.PathLike[str],
        *,
        tools: Iterable[Callable[..., Any] | Tool] | ToolRegistry = (),
        llm: LLM | str | Any = None,
        extend: Mapping[str, float] | None = None,
        approval: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> LoopResult:
        """Async form of :meth:`resume`."""
        loop = cls.load(path, tools=tools, llm=llm, extend=extend, **options)
        loop.answer_approval(approval)
        return await loop.arun()

    def answer_approval(self, approval: Mapping[str, Any] | None) -> None:
        """Give the answer to this loop's pending approval before running it.

        Raises:
            ApprovalError: the token is not this run's pending one, or was already used.
            ValueError: ``approval`` lacks ``token`` or ``approved``.
        """
        if approval is None:
            return
        if "token" not in approval or "approved" not in approval:
            raise ValueError('approval must be {"token": ..., "approved": True/False}')
        token = str(approval["token"])
        if token in self._used_tokens:
            raise ApprovalError(f"approval token {token!r} was already used by this run", token)
        pending = self._pending_approval
        if pending is None or pending["token"] != token:
            hint = (
                f"; the pending token is {pending['token']!r}"
                if pending
                else "; nothing is pending"
            )
            raise ApprovalError(f"approval token {token!r} is unknown to this run{hint}", token)
        self._approval_answer = {"approved": bool(approval["approved"]), "via": "resume"}

    def _record_report(self, report: IterationReport) -> None:
        self.reports.append(report)
        del self.reports[:-KEEP_REPORTS]
        self._added["reports"].append(report.to_dict())
        if report.trend == "regressed":
            self._signal(f"iteration {report.index}: regressed")

    def _signal(self, text: str) -> None:
        self.signals.append(text)
        self._added["signals"].append(text)

    # -- context -----------------------------------------------------------------------------------

    def conversation(self) -> list[Message]:
        """What the next model call sends: the system prompt (goal, facts), one message
        summarising the iterations older than the verbatim window, the last
        ``verbatim_iterations`` iterations verbatim, and the current one."""
        if self._system is None:
            self._system = SystemMessage(self._system_prompt())
        out: list[Message] = [self._system]
        summary = self._summary_message()
        if summary is not None:
            out.append(summary)
        for past in self.history:
            out.extend(past)
        out.extend(self.messages)
        return out

    def _summary_message(self) -> UserMessage | None:
        if not self.summaries:
            return None
        shown = self.summaries[-KEEP_SUMMARIES:]
        dropped = self.summarised - len(shown)
        head = f"({dropped} earlier iterations not shown)\n" if dropped else ""
        return UserMessage("EARLIER ITERATIONS (summary):\n" + head + "\n".join(shown))

    async def _close_iteration(self) -> None:
        """Move the iteration's messages to the history; summarise, once, what leaves the window."""
        if self.messages:
            self.history.append(self.messages)
            self._added["history"].append([message_to_dict(m) for m in self.messages])
            self.messages = []
        while len(self.history) > self.verbatim_iterations:
            oldest = self.history.pop(0)
            line, usage, cost = await self.summarizer.summarise(self.summarised + 1, oldest)
            self._count(usage, cost)
            self.summarised += 1
            self.summaries.append(line)
            del self.summaries[:-KEEP_SUMMARIES]
            self._added["summaries"].append(line)

    def budget_report(self) -> BudgetReport:
        """Where the tokens of the next prompt go, and what the run spent (estimates, in tokens)."""
        system = self._system or SystemMessage(self._system_prompt())
        summary = self._summary_message()
        verbatim = [m for past in self.history for m in past] + self.messages
        definitions = self._definitions or self.runner.definitions()
        return BudgetReport(
            pinned=estimate_tokens([system], ()),
            summaries=estimate_tokens([summary], ()) if summary else 0,
            verbatim=estimate_tokens(verbatim, ()) if verbatim else 0,
            tools=estimate_tokens((), definitions),
            spent_input=self.usage.input_tokens,
            spent_output=self.usage.output_tokens,
            token_limit=self.token_limit,
            cost_usd=self.cost_usd,
            cost_limit_usd=self.cost_limit_usd,
        )

    def explain(self) -> Any:
        """The run explained: status, reason, signals and the decision chain
        (:class:`~tether.loop.explain.Explanation`; ``.to_markdown()`` for people).

        Read from ``trace_path`` when there is one (so a resumed run is explained whole),
        else from this session's events.
        """
        from tether.loop.explain import explain, load_trace

        if self.trace_path is not None and Path(self.trace_path).exists():
            return explain(load_trace(self.trace_path))
        return explain(self.trace.events if self.trace is not None else [])

    # -- steps -------------------------------------------------------------------------------------

    def _ceiling_reached(self) -> str | None:
        elapsed = self.clock() - self._started
        if elapsed >= self.wall_clock_s:
            return f"wall-clock ceiling reached ({elapsed:.1f} of {self.wall_clock_s:g} s)"
        if self.usage.total_tokens >= self.token_limit:
            return f"token ceiling reached ({self.usage.total_tokens:,} of {self.token_limit:,})"
        if self.max_tool_calls is not None and self.tool_calls_made >= self.max_tool_calls:
            return f"tool-call ceiling reached ({self.tool_calls_made} of {self.max_tool_calls})"
        if self.cost_limit_usd is not None and (self.cost_usd or 0.0) >= self.cost_limit_usd:
            return f"USD ceiling reached (${self.cost_usd:.4f} of ${self.cost_limit_usd:g})"
        return None

    def _count(self, usage: Usage, cost_usd: float | None) -> None:
        self.usage.add(usage)
        if cost_usd is None:
            self.cost_usd = None if self.cost_limit_usd is None else self.cost_usd
        elif self.cost_usd is not None:
            self.cost_usd += cost_usd

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
                return None, (
                    f"token ceiling: the next call needs about {estimate:,} input tokens and only "
                    f"{self.token_limit - self.usage.total_tokens:,} are left"
                )
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
            called = self.clock()
            try:
                response = await self.llm.acomplete(
                    conversation, definitions, max_tokens=max_tokens
                )
            except ProviderError as exc:
                raise _ProviderStop(exc) from None
            self._count(response.usage, response.cost_usd)
            self.trace.emit(
                "llm.call",
                iteration=index,
                model=response.model,
                max_tokens=max_tokens,
                estimated_input=estimate,
                input_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
                finish=response.finish_reason,
                tool_calls=[c.name for c in response.tool_calls],
                cost_usd=response.cost_usd,
                duration_s=round(self.clock() - called, 6),
                text=response.text[:20_000],
            )
            _persist.save(self)  # the tokens are spent: a kill now must not forget them
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
        self,
        index: int,
        calls: Sequence[ToolCall],
        report: IterationReport,
        denied: Mapping[str, str],
    ) -> tuple[bool, LoopExit | None]:
        """Run the calls (except ``denied`` ones, answered with the denial); returns (an invalid
        call used up its corrections, the first successful exit call)."""
        assert self.trace is not None
        for call in calls:
            fingerprint = action_fingerprint(call)
            if fingerprint in self._seen:
                report.repeated.append(fingerprint)
            else:
                self._seen[fingerprint] = None
                self._added["seen"].append(fingerprint)
                if len(self._seen) > KEEP_SEEN:
                    del self._seen[next(iter(self._seen))]
            self.trace.emit(
                "tool.call",
                iteration=index,
                tool=call.name,
                call_id=call.id,
                arguments=call.arguments,
                repeated=fingerprint in report.repeated,
            )
        refused: dict[str, str] = {}
        if self.max_tool_calls is not None:
            left = self.max_tool_calls - self.tool_calls_made
            for call in calls:
                if call.id in denied or call.name in self.exits:
                    continue  # an exit call is always allowed: it ends the run
                if left <= 0:
                    refused[call.id] = (
                        f"tool-call ceiling reached ({self.max_tool_calls} calls): {call.name} "
                        "was not run"
                    )
                left -= 1
        allowed = [call for call in calls if call.id not in denied and call.id not in refused]
        self.tool_calls_made += sum(1 for call in allowed if call.name not in self.exits)
        token = _RUNNING.set(True)
        try:
            ran = iter(await self.runner.arun_many(allowed))
        finally:
            _RUNNING.reset(token)
        exhausted = False
        exit_: LoopExit | None = None
        for call in calls:
            if call.id in denied or call.id in refused:
                kind = "approval_denied" if call.id in denied else "tool_call_ceiling"
                content = json.dumps(
                    {"error": kind, "message": denied.get(call.id) or refused[call.id]}
                )
                self.trace.emit(
                    "tool.result",
                    iteration=index,
                    tool=call.name,
                    call_id=call.id,
                    status=kind,
                    truncated=False,
                    duration_s=0.0,
                    content=content,
                )
                self.messages.append(ToolResultMessage(call.id, call.name, content, True))
                continue
            result = next(ran)
            if exit_ is None and result.ok and call.name in self.exits:
                arguments = call.arguments if isinstance(call.arguments, dict) else {}
                exit_ = LoopExit(call.name, arguments, result.value)
            if result.status in _INVALID_STATUSES:
                report.invalid += 1
                exhausted = exhausted or self.runner.exhausted(call.name)
            self.trace.emit(
                "tool.result",
                iteration=index,
                tool=call.name,
                call_id=call.id,
                status=result.status,
                truncated=result.truncated,
                duration_s=round(result.duration_s, 4),
                content=result.content[:4000],
            )
            self.messages.append(
                ToolResultMessage(call.id, call.name, result.content, not result.ok)
            )
        return exhausted, exit_

    def _judge(self, report: IterationReport) -> PolicyDecision | None:
        """Ask every policy about ``report``; returns the first STOP, else adds their messages
        (one note) to the next prompt and returns ``None``."""
        assert self.trace is not None
        self._record_report(report)
        messages: list[str] = []
        for policy in self.policies:
            decision: PolicyDecision | None = policy(report)
            if decision is None:
                continue
            self.trace.emit(
                "policy.decision",
                iteration=report.index,
                policy=_name(policy),
                stop=decision.stop,
                status=decision.status,
                reason=decision.reason,
            )
            if decision.stop:
                _check_status(policy, decision.status)
                return decision  # a STOP is a stop: never turned into a question or a nudge
            if decision.message:
                messages.append(decision.message)
        if messages:
            self._notes.append("\n".join(messages))
        return None

    # -- prompts -----------------------------------------------------------------------------------

    def _system_prompt(self) -> str:
        lines = [
            "You are working toward a goal inside a governed loop with hard limits.",
            f"GOAL: {self.goal}",
            "Act with the tools; each turn, call the tools that move toward the goal.",
            "Do not repeat an action that already failed; try something different.",
        ]
        if self.exits:
            ends = ", ".join(sorted(self.exits))
            lines.append(f"The run ends when you call one of: {ends}. Call it when its time comes.")
        elif self.goal_metric is None:
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
        result = LoopResult(
            status=status,
            reason=reason,
            resumable=resumable,
            text=text,
            usage=self.usage,
            cost_usd=self.cost_usd,
            iterations=self.iteration,
            signals=list(self.signals),
            exit=exit,
        )
        if self.trace is not None:
            self.trace.emit(
                "loop.end",
                status=status.value,
                reason=reason,
                resumable=resumable,
                recommended_action=result.recommended_action,
                input_tokens=self.usage.input_tokens,
                output_tokens=self.usage.output_tokens,
                iterations=result.iterations,
            )
        try:
            _persist.save(self, status=status.value, reason=reason)
        except StateError as exc:
            result.reason += f" (and the state could not be saved: {exc})"
        return result


class _ProviderStop(Exception):
    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


def _install_interrupt(event: threading.Event, quiet: bool) -> Any:
    """Make the first Ctrl-C set ``event`` (a safe stop) and the second raise; returns the
    handler to restore, or ``None`` when not on the main thread or Ctrl-C is already handled."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        return None

    def handler(signum: int, frame: Any) -> None:
        if event.is_set():
            raise KeyboardInterrupt
        event.set()
        if not quiet:
            print(
                "tether loop: stopping at the next safe point (Ctrl-C again to stop now)",
                file=sys.stderr,
            )

    signal.signal(signal.SIGINT, handler)
    return previous


def _registry(tools: Iterable[Callable[..., Any] | Tool] | ToolRegistry) -> ToolRegistry:
    if isinstance(tools, ToolRegistry):
        return tools
    registry = ToolRegistry()
    for entry in tools:
        registry.add(entry if isinstance(entry, Tool) else Tool.from_function(entry))
    return registry


def _status(value: str) -> LoopStatus:
    return LoopStatus(value)  # checked by _check_status when the policy decided


class UnknownStatus(TypeError):
    """A policy returned a status that is not a :class:`LoopStatus` (raised, never a result)."""


def _check_status(policy: Any, value: str) -> None:
    """Raise ``TypeError`` naming ``policy`` when ``value`` is not a :class:`LoopStatus`."""
    try:
        LoopStatus(value)
    except ValueError:
        known = ", ".join(status.value for status in LoopStatus)
        raise UnknownStatus(
            f"policy {_name(policy)} returned status {value!r}, which the loop does not know ({known})"
        ) from None


def _check_declared_statuses(policies: Iterable[Any]) -> None:
    """Validate the statuses policies declare (a ``status`` or ``statuses`` attribute) at construction."""
    for policy in policies:
        declared = getattr(policy, "statuses", None)
        if declared is None:
            one = getattr(policy, "status", None)
            declared = () if one is None else (one,)
        for value in (
            declared if isinstance(declared, (list, tuple, set, frozenset)) else (declared,)
        ):
            if isinstance(value, str):
                _check_status(policy, value)


def _name(policy: Any) -> str:
    return getattr(policy, "__name__", type(policy).__name__)


def _tail(text: str, limit: int) -> str:
    """The end of ``text`` (where test runners and compilers print failures and exit codes)."""
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters omitted ...]\n{text[-limit:]}"
