"""The governed loop: Observe → Plan → Act → Evaluate, inside ceilings that always hold.

::

    from tether.loop import Loop
    from tether.tools import Workspace

    loop = Loop("make the tests in ./repo pass", tools=Workspace("repo").tools(),
                llm="anthropic/claude-sonnet-4-20250514", token_limit=200_000)
    result = loop.run()
    result.status, result.reason, result.recommended_action

A run is a :class:`~tether.loop.run_state.RunState` (all it changes) and its
:class:`~tether.loop.services.Services` (model, tools, clock, state file, trace, settings),
driven through small steps (:mod:`.steps`: begin, observe, judge, plan, gate, act, close)
until one returns an :class:`~tether.loop.end.End`; ``Loop`` builds both and drives the steps
(:meth:`Loop.iter` shows them one by one). Ceilings and when each is checked:
:mod:`.ceilings`. With ``state_path`` the run is saved after each model call and each
iteration (:mod:`.persist`, :mod:`.state`) and :meth:`Loop.resume` continues it with the same
prompts. Gated actions wait for an approval runner (:mod:`.gate`, :mod:`.approval`).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any

from tether.errors import TetherError
from tether.llm.client import LLM
from tether.llm.types import Message, Usage
from tether.loop import context
from tether.loop import gate as gating
from tether.loop.approval import ApprovalRunner, HeadlessApproval, RequireApproval
from tether.loop.budget import BudgetReport, CostLimit
from tether.loop.ceilings import Ceilings, Remaining
from tether.loop.end import End
from tether.loop.fields import CeilingField, Forward
from tether.loop.hooks import Policy
from tether.loop.interrupt import interrupts
from tether.loop.judge import check_declared_statuses
from tether.loop.progress import GoalMetric, IterationReport, NoProgress
from tether.loop.result import LoopResult, LoopStatus
from tether.loop.resume import rebuild
from tether.loop.run_state import RunState
from tether.loop.services import Services, exit_statuses, tool_runner
from tether.loop.session import Session, aborted
from tether.loop.steps import Begin, Step, advance
from tether.loop.summary import DeterministicSummarizer, Summarizer
from tether.loop.trace import Trace
from tether.tools.tool import Tool, ToolRegistry

__all__ = ["Loop", "NestedLoopError", "Policy"]

_RUNNING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "tether_loop_running", default=False
)


class NestedLoopError(TetherError):
    """``run()`` was called from inside a tool of a running loop (a loop cannot host itself)."""


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
            summarized once, one line each (keeps each call's size bounded).
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
        policies_ = list(policies) if policies is not None else [NoProgress(3)]
        check_declared_statuses(policies_)
        usd_limits = [p.usd for p in policies_ if isinstance(p, CostLimit)]
        if cost_limit_usd is not None:
            usd_limits.append(cost_limit_usd)
        ceilings = Ceilings(
            max_iterations=max_iterations,
            token_limit=token_limit,
            wall_clock_s=wall_clock_s,
            cost_limit_usd=min(usd_limits) if usd_limits else None,
            max_tokens_per_call=max_tokens_per_call,
            max_tool_calls=max_tool_calls,
        )
        runner = tool_runner(tools, clock)
        path = Path(state_path) if state_path is not None else None
        if isinstance(approval_runner, HeadlessApproval) and path is None:
            raise ValueError("HeadlessApproval pauses the run to resume later: set state_path too")
        self.services = Services(
            goal=goal,
            llm=llm if isinstance(llm, LLM) else LLM(llm),
            runner=runner,
            clock=clock,
            ceilings=ceilings,
            summarizer=summarizer or DeterministicSummarizer(),
            policies=policies_,
            approvals=[p for p in policies_ if isinstance(p, RequireApproval)],
            approval_runner=approval_runner,
            exits=exit_statuses(exits, runner),
            observe=observe,
            goal_metric=goal_metric,
            verbatim_iterations=verbatim_iterations,
            pinned=list(pinned),
            state_path=path,
            trace_path=trace_path,
            abort=abort,
        )
        """What the run works with (:class:`~tether.loop.services.Services`)."""
        self.run_state = RunState()
        """What the run has changed so far (:class:`~tether.loop.run_state.RunState`)."""
        self.on_event = on_event
        self.quiet = quiet
        self.otel = otel
        self._session: Session | None = None

    goal = Forward[str]("services", "goal")
    llm = Forward[LLM]("services", "llm")
    runner = Forward[Any]("services", "runner", "The tool runner.")
    clock = Forward[Callable[[], float]]("services", "clock")
    observe = Forward[Callable[[], Any] | None]("services", "observe")
    goal_metric = Forward[GoalMetric | None]("services", "goal_metric")
    policies = Forward[list[Any]]("services", "policies")
    exits = Forward[dict[str, LoopStatus]]("services", "exits")
    summarizer = Forward[Summarizer]("services", "summarizer")
    verbatim_iterations = Forward[int]("services", "verbatim_iterations")
    pinned = Forward[list[str]]("services", "pinned")
    state_path = Forward[Path | None]("services", "state_path")
    trace_path = Forward[Any]("services", "trace_path")
    approval_runner = Forward[ApprovalRunner | None]("services", "approval_runner")
    abort = Forward[threading.Event | None]("services", "abort")
    trace = Forward[Trace | None]("services", "trace", "The trace of the latest session.")
    max_iterations = CeilingField[int]("max_iterations")
    token_limit = CeilingField[int]("token_limit")
    wall_clock_s = CeilingField[float]("wall_clock_s")
    cost_limit_usd = CeilingField[float | None]("cost_limit_usd")
    max_tokens_per_call = CeilingField[int]("max_tokens_per_call")
    max_tool_calls = CeilingField[int | None]("max_tool_calls")
    iteration = Forward[int]("run_state", "iteration", "Iterations finished.")
    usage = Forward[Usage]("run_state", "usage", "Tokens spent (charged work included).")
    cost_usd = Forward[float | None]("run_state", "cost_usd", "USD spent (None: unknown).")
    tool_calls_made = Forward[int]("run_state", "tool_calls_made", "Tool calls run so far.")
    messages = Forward[list[Message]]("run_state", "messages", "The current iteration's.")
    history = Forward[list[list[Message]]]("run_state", "history", "Unsummarized iterations.")
    summaries = Forward[list[str]]("run_state", "summaries", "The latest summary lines.")
    summarized = Forward[int]("run_state", "summarized", "Iterations summarized so far.")
    summarised = Forward[int]("run_state", "summarized", "Deprecated: use ``summarized``.")
    reports = Forward[list[IterationReport]]("run_state", "reports", "Recent judged iterations.")
    signals = Forward[list[str]]("run_state", "signals", "What evaluation noticed.")

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
        self.services.interrupted = threading.Event()
        with interrupts(self.services.interrupted, self.quiet):
            try:
                return asyncio.run(self.arun())
            except KeyboardInterrupt:
                return aborted(self.run_state, self.services, self.on_event)

    async def arun(self) -> LoopResult:
        """Run to a status (async form of :meth:`run`)."""
        if _RUNNING.get():
            raise NestedLoopError("Loop.arun() called from inside a running loop's tool")
        async with aclosing(self.iter()) as steps:
            async for step in steps:
                if isinstance(step, End):
                    return step.result
        raise AssertionError("unreachable: a run always ends with End")

    async def iter(self) -> AsyncGenerator[Step | End, None]:
        """Run step by step: an async iterator over the steps, each yielded before it runs.

        Like pydantic-ai's ``Agent.iter()``: the steps are
        :class:`~tether.loop.steps.Begin`, then per iteration ``Observe``, ``Judge``, ``Plan``
        (one per model call), ``Gate``, ``Act``, ``Close``; the last item is an
        :class:`~tether.loop.end.End` whose ``result`` is what :meth:`arun` returns. The state
        is saved after ``Plan`` and ``Close`` (with ``state_path``). Leaving the iteration
        early (``break``) ends the session as a kill would: the run stays resumable::

            async for step in loop.iter():
                print(type(step).__name__, loop.iteration)
                if isinstance(step, End):
                    result = step.result

        Raises:
            NestedLoopError: iterated from inside a tool of a running loop.
            ConfigError, StateError: as for :meth:`run`.
        """
        if _RUNNING.get():
            raise NestedLoopError("Loop.iter() called from inside a running loop's tool")
        self._session = Session.open(self.run_state, self.services, self.on_event, self.otel)
        step: Step | End = Begin(quiet=self.quiet)
        try:
            while True:
                yield step
                if isinstance(step, End):
                    return
                token = _RUNNING.set(True)
                try:
                    step = await advance(step, self.run_state, self.services)
                finally:
                    _RUNNING.reset(token)
        finally:
            self._session.close(self.run_state, self.services)

    # -- budgets -----------------------------------------------------------------------------------

    def charge(
        self, *, input_tokens: int = 0, output_tokens: int = 0, cost_usd: float = 0.0
    ) -> None:
        """Add work done elsewhere (e.g. a child loop's run) to this run's usage.

        The ceilings see it at their next check (before the next model call or tool batch, at
        the next iteration's start), and the next save records it.

        Args:
            input_tokens, output_tokens: tokens spent elsewhere.
            cost_usd: USD spent elsewhere (added unless this run's USD total is unknown).

        Raises:
            ValueError: a negative amount.
        """
        if input_tokens < 0 or output_tokens < 0 or cost_usd < 0:
            raise ValueError(
                "Loop.charge: amounts must not be negative, got "
                f"input_tokens={input_tokens}, output_tokens={output_tokens}, cost_usd={cost_usd}"
            )
        used = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
        self.run_state.count(used, cost_usd, usd_limited=self.cost_limit_usd is not None)

    def remaining(self) -> Remaining:
        """What is left of this run's ceilings now (iterations, tokens, USD, seconds).

        ``cost_usd`` is ``None`` when the run has no USD ceiling. During a session the wall
        clock counts up to now; between sessions it stands where the last one stopped.
        """
        state = self.run_state
        now = self.services.clock()
        running = self._session is not None and self._session.running
        elapsed = state.elapsed(now) if running else state.elapsed_before
        return self.services.ceilings.remaining(state, elapsed)

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
            allow_artifact_drift: reuse summaries written by another summarizer version.
            options: other constructor arguments (``observe``, ``goal_metric``, ``policies``,
                ``exits``, ``trace_path``, ``approval_runner``, ``summarizer`` ...).

        Raises:
            StateError: no state at ``path``; StateCorrupt / StateVersionError: it cannot be read.
            SchemaChangedError: a tool's schema differs from the saved one.
            ArtifactDriftError: the saved summaries come from another summarizer.
            ValueError: an unknown ``extend`` key or a negative extension.
        """
        return rebuild(
            cls,
            path,
            tools=tools,
            llm=llm,
            extend=extend,
            allow_schema_change=allow_schema_change,
            allow_artifact_drift=allow_artifact_drift,
            **options,
        )

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
        gating.answer(self.run_state, approval)

    # -- context -----------------------------------------------------------------------------------

    def conversation(self) -> list[Message]:
        """What the next model call sends: the system prompt (goal, facts), one message
        summarizing the iterations older than the verbatim window, the last
        ``verbatim_iterations`` iterations verbatim, and the current one."""
        return context.conversation(self.services, self.run_state)

    def budget_report(self) -> BudgetReport:
        """Where the tokens of the next prompt go, and what the run spent (estimates, in tokens)."""
        return context.budget_report(self.services, self.run_state)

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
