"""The regulator's state machine: one dataclass of state, events in, one decision out.

No I/O, no lock and no clock of its own: :func:`apply` takes the time as a callable and says
whether the event taught a correction (the facade, :class:`~tether.regulator.Regulator`,
then saves it when asked to); :func:`decide` reads what the events left ready. Work is done
as events arrive: keywords and drift at ``turn_start`` / ``turn_complete``; cost, quality and
tool events update O(1) counters and latch a halt the moment one holds. The decision is cached
in the state until the next event.

**Halts are sticky.** Once a ``circuit_break`` holds, :func:`decide` returns it until the task
ends (:func:`new_task`); a more urgent halt replaces a less urgent one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tether.regulator.confidence import TokenSpans
from tether.regulator.corrections import CorrectionMemory
from tether.regulator.decision import (
    CONTINUE,
    REASON_PRIORITY,
    CircuitBreakReason,
    CorrectionPattern,
    Decision,
)
from tether.regulator.drift import drift
from tether.regulator.errors import InvalidEventError
from tether.regulator.events import (
    Cost,
    LLMEvent,
    QualityFeedback,
    Token,
    ToolCall,
    ToolResult,
    TurnComplete,
    TurnStart,
    UserCorrection,
)
from tether.regulator.loops import ToolLoops
from tether.regulator.quality import CostQuality
from tether.regulator.tokenize import Keywords, keywords, topic_cluster

__all__ = [
    "SUGGESTIONS",
    "RegulatorState",
    "apply",
    "decide",
    "drift_decision",
    "latch",
    "new_task",
    "pattern",
]

SUGGESTIONS: dict[str, str] = {
    "cost_cap_reached": (
        "The token budget is spent and recent answers score poorly: stop, ask the user to "
        "narrow the task, or raise the cap only if the answers are improving."
    ),
    "quality_decline_no_recovery": (
        "Answers keep getting worse: stop retrying; rephrase the task, simplify it, or hand it "
        "to a person."
    ),
    "repeated_tool_call_loop": (
        "The agent is calling tools in a loop without progress: stop, re-prompt with what the "
        "calls returned and a different approach, or escalate to the user."
    ),
    "repeated_failure_pattern": (
        "The same step keeps failing: stop, fix its cause (arguments, permissions, the tool "
        "itself) or mark the task unresolved."
    ),
}
"""The human-readable ``suggestion`` of each circuit-break reason."""

_LOOP_WARN_SUGGESTION = (
    "A tool loop is forming: change approach before the regulator halts the run."
)


@dataclass(slots=True)
class RegulatorState:
    """Everything a regulator knows: settings (inside the trackers and here), the current
    turn and task, what it learned, and the cached decision.

    Attributes:
        user_id: whose corrections these are.
        cq: cost and quality of the task (the output-token cap, the quality window).
        loops: tool calls of the turn and task (loop and failure thresholds).
        tokens: the turn's token probabilities (low-confidence spans).
        corrections: the learned corrections by topic cluster.
        drift_threshold: drift score (``[0, 1]``) from which an answer warns.
        implicit_window_s: seconds after an answer within which a same-topic ``turn_start``
            counts as a correction, or ``None`` (off).
        implicit: corrections inferred that way.
        ignored_corrections: corrections with nothing to attribute them to.
        turn: turns seen (1-based index of the current one).
        task_index: tasks ended so far.
        task_words: the current turn's request, as keywords.
        response_words: the current turn's answer, as keywords (``None`` before it completes).
        cluster: the current turn's topic cluster (``""`` before the first turn).
        last_complete_at: when the last answer completed (the clock's seconds), or ``None``.
        halt: the latched ``circuit_break``, or ``None``.
        drifted: the current answer's ``scope_drift_warn``, or ``None``.
        procedural: the last pattern warned about and its decision (reused while unchanged).
        decision: the cached decision, ``None`` after an event.
    """

    user_id: str
    cq: CostQuality = field(default_factory=CostQuality)
    loops: ToolLoops = field(default_factory=ToolLoops)
    tokens: TokenSpans = field(default_factory=TokenSpans)
    corrections: CorrectionMemory = field(default_factory=CorrectionMemory)
    drift_threshold: float = 0.5
    implicit_window_s: float | None = None
    implicit: int = 0
    ignored_corrections: int = 0
    turn: int = 0
    task_index: int = 0
    task_words: Keywords = field(default_factory=lambda: keywords(""))
    response_words: Keywords | None = None
    cluster: str = ""
    last_complete_at: float | None = None
    halt: Decision | None = None
    drifted: Decision | None = None
    procedural: tuple[CorrectionPattern | None, Decision] = (None, CONTINUE)
    decision: Decision | None = None


# -- events ---------------------------------------------------------------------------------------


def apply(state: RegulatorState, event: LLMEvent, clock: Callable[[], float]) -> bool:
    """Apply one event to ``state``; True when it taught a correction.

    Args:
        state: changed in place.
        event: one of the :class:`~tether.regulator.LLMEvent` kinds.
        clock: seconds (any origin) for the implicit-correction window.

    Raises:
        InvalidEventError: ``event`` is not an :class:`LLMEvent` (for a dict, use
            :meth:`LLMEvent.from_dict`). Nothing changes.
    """
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise InvalidEventError(
            f"expected an LLMEvent (built with LLMEvent.turn_start(...) etc.), got "
            f"{type(event).__name__}; for a dict use LLMEvent.from_dict()"
        )
    state.decision = None
    return handler(state, event, clock)


def latch(state: RegulatorState, reason: CircuitBreakReason | None) -> None:
    """Hold a halt for ``reason`` unless one at least as urgent is held already."""
    if reason is None:
        return
    current = state.halt
    if (
        current is not None
        and current.reason is not None
        and REASON_PRIORITY[reason.kind] >= REASON_PRIORITY[current.reason.kind]
    ):
        return
    state.halt = Decision("circuit_break", reason=reason, suggestion=SUGGESTIONS[reason.kind])


def new_task(state: RegulatorState) -> None:
    """End the task: lift the halt; clear the task's costs, scores and tool history."""
    state.task_index += 1
    state.cq.new_task()
    state.loops.new_task()
    state.halt = None


def _turn_start(state: RegulatorState, event: TurnStart, clock: Callable[[], float]) -> bool:
    if event.new_task:
        new_task(state)
    words = keywords(event.user_message)
    cluster = topic_cluster(words)
    window = state.implicit_window_s
    learned = False
    if (
        window is not None
        and cluster
        and cluster == state.cluster
        and state.last_complete_at is not None
        and clock() - state.last_complete_at <= window
    ):
        state.implicit += 1
        state.corrections.record(cluster, event.user_message)
        learned = True
    state.turn += 1
    state.task_words = words
    state.cluster = cluster
    state.response_words = None
    state.drifted = None
    state.last_complete_at = None
    state.loops.new_turn()
    state.tokens.new_turn()
    if cluster:
        state.corrections.touch(cluster)
    return learned


def _token(state: RegulatorState, event: Token, clock: Callable[[], float]) -> bool:
    state.tokens.add(event.index, event.token, event.logprob)
    return False


def _turn_complete(state: RegulatorState, event: TurnComplete, clock: Callable[[], float]) -> bool:
    state.response_words = keywords(event.full_response)
    state.drifted = drift_decision(state)
    state.last_complete_at = clock()
    return False


def _cost(state: RegulatorState, event: Cost, clock: Callable[[], float]) -> bool:
    latch(state, state.cq.on_cost(event.tokens_in, event.tokens_out, event.wallclock_ms))
    return False


def _quality(state: RegulatorState, event: QualityFeedback, clock: Callable[[], float]) -> bool:
    latch(state, state.cq.on_quality(event.quality, state.cluster))
    return False


def _correction(state: RegulatorState, event: UserCorrection, clock: Callable[[], float]) -> bool:
    if not event.corrects_last or not state.cluster:
        state.ignored_corrections += 1  # nothing to attribute it to
        return False
    state.corrections.record(state.cluster, event.correction_message)
    return True


def _tool_call(state: RegulatorState, event: ToolCall, clock: Callable[[], float]) -> bool:
    latch(state, state.loops.on_call(event.tool_name, event.args_json, state.turn))
    return False


def _tool_result(state: RegulatorState, event: ToolResult, clock: Callable[[], float]) -> bool:
    latch(state, state.loops.on_result(event.tool_name, event.success, event.duration_ms))
    return False


_HANDLERS: dict[type, Callable[[RegulatorState, Any, Callable[[], float]], bool]] = {
    TurnStart: _turn_start,
    Token: _token,
    TurnComplete: _turn_complete,
    Cost: _cost,
    QualityFeedback: _quality,
    UserCorrection: _correction,
    ToolCall: _tool_call,
    ToolResult: _tool_result,
}


# -- decisions ------------------------------------------------------------------------------------


def drift_decision(state: RegulatorState) -> Decision | None:
    """The ``scope_drift_warn`` the current answer earns, or ``None``."""
    if state.response_words is None:
        return None
    found = drift(state.task_words, state.response_words)
    if found is None or found[0] < state.drift_threshold:
        return None
    score, off = found
    return Decision(
        "scope_drift_warn",
        drift_score=score,
        drift_tokens=tuple(state.response_words.words(off)),
        task_tokens=tuple(state.task_words.words()),
    )


def pattern(state: RegulatorState, cluster: str) -> CorrectionPattern | None:
    """The learned correction pattern of ``cluster``, or ``None`` (also for ``""``)."""
    return state.corrections.pattern_for(state.user_id, cluster) if cluster else None


def decide(state: RegulatorState) -> Decision:
    """The decision for the current state; the same object until the next event.

    Priority: circuit_break (sticky) > tool_loop_warn > scope_drift_warn >
    procedural_warning > low_confidence_spans > continue.
    """
    decision = state.decision
    if decision is None:
        decision = state.decision = _decide(state)
    return decision


def _decide(state: RegulatorState) -> Decision:
    if state.halt is not None:
        return state.halt
    warning = state.loops.warning
    if warning is not None:
        return Decision("tool_loop_warn", loop=warning, suggestion=_LOOP_WARN_SUGGESTION)
    if state.drifted is not None:
        return state.drifted
    found = pattern(state, state.cluster)
    if found is not None:
        cached, decision = state.procedural
        if cached is not found:
            decision = Decision("procedural_warning", patterns=(found,))
            state.procedural = (found, decision)
        return decision
    if state.tokens.tokens:
        spans = state.tokens.spans()
        if spans:
            return Decision("low_confidence_spans", spans=spans)
    return CONTINUE
