"""The steps of a governed run: begin, observe, judge, plan, gate, act, close.

Modelled on the nodes of pydantic-ai's ``_agent_graph.py``: each step is a small frozen
dataclass whose ``run(state, deps)`` takes the :class:`~tether.loop.run_state.RunState` and
the :class:`~tether.loop.services.Services` and returns the next step, or an
:class:`~tether.loop.end.End` for every normal stop. One iteration::

    Observe(n) ─> Judge(n) ─> Plan(n) ─┬─> Gate ─> Act ─> Close ─> Observe(n+1)
                                       └─> Close            (text only, with a goal metric)

``Begin`` starts a session (and settles a paused approval, going straight to ``Act``).
Steps with ``checkpoint = True`` (a model call was paid for; an iteration closed) are
followed by a save (:func:`advance`). Progress is credited to the iteration whose actions
caused it: the metric measured in ``Observe(n+1)`` is the result of iteration *n*, which
``Judge(n+1)`` then judges.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import ClassVar

from tether.errors import PricingStale, ProviderError
from tether.llm.types import ToolResultMessage, UserMessage, message_to_dict
from tether.loop import gate as gating
from tether.loop.context import conversation, estimate_tokens, take_observation, user_prompt
from tether.loop.end import End, finish
from tether.loop.judge import UnknownStatus, judge
from tether.loop.persist import save
from tether.loop.progress import IterationReport, action_fingerprint
from tether.loop.result import LoopExit, LoopStatus
from tether.loop.run_state import RunState
from tether.loop.services import Services
from tether.loop.state import StateError
from tether.loop.summary import summarize_with
from tether.tools.invoke import render_output

__all__ = [
    "Act",
    "Begin",
    "Close",
    "End",
    "Gate",
    "Judge",
    "Observe",
    "Plan",
    "Step",
    "advance",
]

MAX_CONTINUATIONS = 2
"""Times a model answer cut off by its output limit is asked to continue."""
_INVALID_STATUSES = ("invalid_arguments", "unknown_tool")


@dataclass(frozen=True)
class Begin:
    """Start a session: announce, refuse an unenforceable USD ceiling, settle a paused approval."""

    quiet: bool = True
    checkpoint: ClassVar[bool] = False

    async def run(self, state: RunState, deps: Services) -> Step | End:
        """The first step of the session."""
        limits = deps.ceilings.describe()
        tools = deps.runner.tools.names()
        if state.resumed:
            deps.emit(
                "loop.resumed",
                goal=deps.goal,
                model=deps.llm.model,
                limits=limits,
                iteration=state.iteration,
                tools=tools,
            )
        else:
            deps.emit(
                "loop.start", goal=deps.goal, model=deps.llm.model, limits=limits, tools=tools
            )
        if not self.quiet:
            verb = f"resuming at iteration {state.iteration + 1}" if state.resumed else "goal"
            print(f"tether loop: {verb}={deps.goal[:60]!r} | limits: {limits}", file=sys.stderr)
        refusal = _usd_refusal(deps)
        if refusal:
            return finish(state, deps, LoopStatus.ERROR, refusal, text="")
        state.system = None
        state.definitions = deps.runner.definitions()
        if state.pending_approval is None:
            state.messages = []
            return Observe(state.iteration + 1)
        settled = await gating.settle(state, deps)
        if isinstance(settled, End):
            return settled
        report, denied = settled
        return Act(report, denied)


def _usd_refusal(deps: Services) -> str | None:
    limit = deps.ceilings.cost_limit_usd
    if limit is None:
        return None
    try:
        deps.llm.prices.check_ceiling(limit)
    except PricingStale as exc:
        return str(exc)
    if deps.llm.prices.price(deps.llm.model) is None:
        return (
            f"cost_limit_usd is set but {deps.llm.model} has no price in the table, so the USD "
            "ceiling could not be enforced; add a price (PriceTable.from_file) or use token_limit"
        )
    return None


@dataclass(frozen=True)
class Observe:
    """Iteration ``index`` starts: check the ceilings, observe, measure the goal."""

    index: int
    checkpoint: ClassVar[bool] = False

    async def run(self, state: RunState, deps: Services) -> Step | End:
        """Ends the run on a ceiling, an abort or the goal met; else judges what came before."""
        stop = deps.ceilings.at_safe_point(state, deps.clock())
        if stop is not None:
            return finish(state, deps, LoopStatus.BUDGET_EXHAUSTED, stop, resumable=True)
        stop = deps.abort_requested()
        if stop is not None:
            return finish(state, deps, LoopStatus.ABORTED, stop, resumable=True)
        beyond = deps.ceilings.iterations_done(self.index)
        if beyond is not None and state.pending is None:
            return finish(state, deps, LoopStatus.BUDGET_EXHAUSTED, beyond, resumable=True)
        if beyond is None:  # else a last pass only to measure the last iteration's effect
            deps.emit("iteration.start", iteration=self.index)
        observation = take_observation(deps, state)
        if observation is not None and deps.goal_metric is not None:
            snapshot = deps.goal_metric.measure(observation)
            trend = snapshot.compare(state.previous)
            deps.emit(
                "metric",
                iteration=self.index,
                value=snapshot.value,
                detail=snapshot.detail,
                trend=trend,
                failing=sorted(snapshot.failing),
            )
            if state.pending is not None:  # credit the result to the iteration that acted
                state.pending.metric, state.pending.trend = snapshot, trend
            state.previous = snapshot
            if snapshot.success:
                if state.pending is not None:
                    state.record_report(state.pending)
                    state.pending = None
                return finish(
                    state,
                    deps,
                    LoopStatus.SUCCESS,
                    f"goal metric reports success: {snapshot.detail}",
                )
        return Judge(self.index)


@dataclass(frozen=True)
class Judge:
    """Judge the iteration that waited for this observation; stop at the iterations ceiling."""

    index: int
    checkpoint: ClassVar[bool] = False

    async def run(self, state: RunState, deps: Services) -> Step | End:
        """A policy's STOP or the iterations ceiling ends the run; else plan iteration ``index``."""
        if state.pending is not None:
            pending, state.pending = state.pending, None
            halt = judge(state, deps, pending)
            if halt is not None:
                return finish(state, deps, LoopStatus(halt.status), halt.reason, resumable=True)
        beyond = deps.ceilings.iterations_done(self.index)
        if beyond is not None:
            return finish(state, deps, LoopStatus.BUDGET_EXHAUSTED, beyond, resumable=True)
        state.messages = [UserMessage(user_prompt(deps, state, self.index, state.notes))]
        state.notes = []
        return Plan(self.index)


@dataclass(frozen=True)
class Plan:
    """One model call of iteration ``index`` (``attempt`` > 0: continuing a cut-off answer)."""

    index: int
    attempt: int = 0
    parts: tuple[str, ...] = field(default=())
    checkpoint: ClassVar[bool] = True  # the tokens are spent: a kill now must not forget them

    async def run(self, state: RunState, deps: Services) -> Step | End:
        """Call the model within the ceilings; the calls it asks for go to the gate."""
        sent = conversation(deps, state)
        estimate = estimate_tokens(sent, state.definitions)
        limited = deps.ceilings.cost_limit_usd is not None
        price = deps.llm.prices.price(deps.llm.model) if limited else None
        max_tokens, stop = deps.ceilings.before_call(state, estimate, price)
        if stop is not None:
            return finish(state, deps, LoopStatus.BUDGET_EXHAUSTED, stop, resumable=True)
        called = deps.clock()
        try:
            response = await deps.llm.acomplete(sent, state.definitions, max_tokens=max_tokens)
        except ProviderError as exc:
            return finish(
                state, deps, LoopStatus.ERROR, f"model call failed: {exc}", resumable=True
            )
        state.count(response.usage, response.cost_usd, usd_limited=limited)
        deps.emit(
            "llm.call",
            iteration=self.index,
            model=response.model,
            max_tokens=max_tokens,
            estimated_input=estimate,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
            finish=response.finish_reason,
            tool_calls=[c.name for c in response.tool_calls],
            cost_usd=response.cost_usd,
            duration_s=round(deps.clock() - called, 6),
            text=response.text[:20_000],
        )
        state.messages.append(response.message())
        if (
            response.finish_reason == "length"
            and not response.tool_calls
            and self.attempt < MAX_CONTINUATIONS
        ):
            state.messages.append(
                UserMessage(
                    "Your answer was cut off by the output limit. Continue exactly where it stopped."
                )
            )
            deps.emit("llm.continue", iteration=self.index, attempt=self.attempt + 1)
            return Plan(self.index, self.attempt + 1, (*self.parts, response.text))
        text = "".join((*self.parts, response.text))
        state.last_text = text or state.last_text
        report = IterationReport(index=self.index, tool_calls=list(response.tool_calls), text=text)
        if not response.tool_calls:
            report.text_only = True
            if deps.goal_metric is None:
                return finish(
                    state, deps, LoopStatus.SUCCESS, "the model gave its final answer", text=text
                )
            deps.emit("model.claim", iteration=self.index, text=text[:2000])
            return Close(report)
        stop = deps.ceilings.at_safe_point(state, deps.clock())
        if stop is not None:
            return finish(state, deps, LoopStatus.BUDGET_EXHAUSTED, stop, resumable=True)
        stop = deps.abort_requested()
        if stop is not None:  # the planned calls are not run; a resume plans this iteration again
            state.messages = []
            return finish(state, deps, LoopStatus.ABORTED, stop, resumable=True)
        return Gate(report)


@dataclass(frozen=True)
class Gate:
    """Ask the approval runner about the gated calls of ``report``'s batch."""

    report: IterationReport
    checkpoint: ClassVar[bool] = False

    async def run(self, state: RunState, deps: Services) -> Step | End:
        """Denied calls go back to the model; a STOP denial or a pause ends the run."""
        verdict = await gating.gate(state, deps, self.report)
        if isinstance(verdict, End):
            return verdict
        return Act(self.report, verdict)


@dataclass(frozen=True)
class Act:
    """Run ``report``'s calls (``denied`` ones answered with their note, call id → note)."""

    report: IterationReport
    denied: dict[str, str] = field(default_factory=dict)
    checkpoint: ClassVar[bool] = False

    async def run(self, state: RunState, deps: Services) -> Step | End:
        """A successful exit call or two plan-invalid iterations end the run; else close it."""
        report, index = self.report, self.report.index
        exhausted, exit_ = await _run_calls(state, deps, report, self.denied)
        if exit_ is not None:
            state.record_report(report)
            deps.emit(
                "iteration.end",
                iteration=index,
                tool_calls=len(report.tool_calls),
                repeated=len(report.repeated),
                invalid=report.invalid,
                exit=exit_.tool,
            )
            state.iteration = index
            return finish(
                state,
                deps,
                deps.exits[exit_.tool],
                f"the model called {exit_.tool}",
                text=render_output(exit_.value),
                exit=exit_,
            )
        if exhausted:
            state.plan_invalid_streak += 1
            deps.emit("iteration.plan_invalid", iteration=index, streak=state.plan_invalid_streak)
            if state.plan_invalid_streak >= 2:
                return finish(
                    state,
                    deps,
                    LoopStatus.PLAN_FAILED,
                    "two iterations in a row ended with invalid tool calls after their retries",
                )
        else:
            state.plan_invalid_streak = 0
            if not report.invalid:
                deps.runner.new_turn()
        return Close(report)


async def _run_calls(
    state: RunState, deps: Services, report: IterationReport, denied: dict[str, str]
) -> tuple[bool, LoopExit | None]:
    """Run the batch; returns (an invalid call used up its corrections, the first successful
    exit call)."""
    calls = report.tool_calls
    for call in calls:
        fingerprint = action_fingerprint(call)
        if state.remember(fingerprint):
            report.repeated.append(fingerprint)
        deps.emit(
            "tool.call",
            iteration=report.index,
            tool=call.name,
            call_id=call.id,
            arguments=call.arguments,
            repeated=fingerprint in report.repeated,
        )
    skip = set(denied) | {c.id for c in calls if c.name in deps.exits}
    refused = deps.ceilings.tool_calls_refused(state, calls, skip)
    allowed = [call for call in calls if call.id not in denied and call.id not in refused]
    state.tool_calls_made += sum(1 for call in allowed if call.name not in deps.exits)
    ran = iter(await deps.runner.arun_many(allowed))
    exhausted = False
    exit_: LoopExit | None = None
    for call in calls:
        if call.id in denied or call.id in refused:
            kind = "approval_denied" if call.id in denied else "tool_call_ceiling"
            content = json.dumps(
                {"error": kind, "message": denied.get(call.id) or refused[call.id]}
            )
            deps.emit(
                "tool.result",
                iteration=report.index,
                tool=call.name,
                call_id=call.id,
                status=kind,
                truncated=False,
                duration_s=0.0,
                content=content,
            )
            state.messages.append(ToolResultMessage(call.id, call.name, content, True))
            continue
        result = next(ran)
        if exit_ is None and result.ok and call.name in deps.exits:
            arguments = call.arguments if isinstance(call.arguments, dict) else {}
            exit_ = LoopExit(call.name, arguments, result.value)
        if result.status in _INVALID_STATUSES:
            report.invalid += 1
            exhausted = exhausted or deps.runner.exhausted(call.name)
        deps.emit(
            "tool.result",
            iteration=report.index,
            tool=call.name,
            call_id=call.id,
            status=result.status,
            truncated=result.truncated,
            duration_s=round(result.duration_s, 4),
            content=result.content[:4000],
        )
        state.messages.append(ToolResultMessage(call.id, call.name, result.content, not result.ok))
    return exhausted, exit_


@dataclass(frozen=True)
class Close:
    """Close iteration ``report.index``: trace it, summarize what leaves the window, judge it
    now (or once the next observation shows its effect)."""

    report: IterationReport
    checkpoint: ClassVar[bool] = True

    async def run(self, state: RunState, deps: Services) -> Step | End:
        """A policy's STOP ends the run; else the next iteration observes."""
        report, index = self.report, self.report.index
        deps.emit(
            "iteration.end",
            iteration=index,
            tool_calls=len(report.tool_calls),
            repeated=len(report.repeated),
            invalid=report.invalid,
            text_only=report.text_only,
        )
        state.iteration = index
        if state.messages:
            state.history.append(state.messages)
            state.added["history"].append([message_to_dict(m) for m in state.messages])
            state.messages = []
        while len(state.history) > deps.verbatim_iterations:
            oldest = state.history.pop(0)
            line, usage, cost = await summarize_with(deps.summarizer, state.summarized + 1, oldest)
            state.count(usage, cost, usd_limited=deps.ceilings.cost_limit_usd is not None)
            state.add_summary(line)
        if deps.goal_metric is None or deps.observe is None:
            halt = judge(state, deps, report)
            if halt is not None:
                return finish(state, deps, LoopStatus(halt.status), halt.reason, resumable=True)
        else:
            state.pending = report  # judged once the next observation shows its effect
        return Observe(index + 1)


Step = Begin | Observe | Judge | Plan | Gate | Act | Close
"""Any step of a run (:class:`~tether.loop.end.End` is not one: it is where they lead)."""


async def advance(step: Step, state: RunState, deps: Services) -> Step | End:
    """Run ``step``, save after a checkpoint step, and return what comes next.

    A state that cannot be saved, or any other error in a step, ends the run ERROR (as an
    :class:`~tether.loop.end.End`).

    Raises:
        UnknownStatus: a policy's programming error, never a way for the run to end.
    """
    try:
        after = await step.run(state, deps)
        if step.checkpoint and not isinstance(after, End):
            save(state, deps)
        return after
    except StateError as exc:
        return finish(
            state, deps, LoopStatus.ERROR, f"cannot save the state: {exc}", resumable=True, text=""
        )
    except UnknownStatus:
        raise
    except Exception as exc:
        return finish(state, deps, LoopStatus.ERROR, f"{type(exc).__name__}: {exc}", text="")
