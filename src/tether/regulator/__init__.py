"""The regulator: LLM events in, decisions out (tool loops, cost x quality, drift, corrections).

An agent loop reports what happens (turns, streamed tokens, tool calls and
results, costs, quality scores, user corrections) and asks, whenever it is
about to spend more, what to do::

    from tether.regulator import Regulator, LLMEvent

    r = Regulator.for_user("alice").with_cost_cap(20_000)
    r.on_event(LLMEvent.turn_start("Refactor fetch_user to be async"))
    prompt = r.inject_corrections("Refactor fetch_user to be async")  # learned corrections, if any
    # ... call the model with `prompt`; for each tool call:
    r.on_event(LLMEvent.tool_call("read_file", '{"path": "users.py"}'))
    r.on_event(LLMEvent.tool_result("read_file", success=True, duration_ms=3))
    if r.decide().kind == "circuit_break":
        ...  # stop: decision.reason.kind, decision.suggestion
    r.on_event(LLMEvent.turn_complete(response_text))
    r.on_event(LLMEvent.cost(tokens_in=25, tokens_out=800, wallclock_ms=500))
    r.on_event(LLMEvent.quality_feedback(0.8))      # optional: a score in [0, 1]

    match r.decide().kind:
        case "continue": ...
        case "circuit_break": ...        # .reason (.kind: cost_cap_reached, quality_decline_no_recovery,
                                         #   repeated_tool_call_loop, repeated_failure_pattern), .suggestion
        case "tool_loop_warn": ...       # .loop: a loop is forming; the halt follows if it goes on
        case "scope_drift_warn": ...     # .drift_score in [0, 1], .drift_tokens, .task_tokens
        case "procedural_warning": ...   # .patterns: what this user keeps correcting on this topic
        case "low_confidence_spans": ... # .spans: stretches of low token probability

Priority, locked: cost cap > quality decline > tool loop > repeated failure
(all ``circuit_break``) > loop warning > drift > procedural > low confidence >
continue. ``decide()`` returns the same object until the next event.

**Halts are sticky** for the task: after a ``circuit_break`` every
``decide()`` repeats it until ``r.reset()`` or
``LLMEvent.turn_start(msg, new_task=True)``.

**Loops** beyond "the same tool five times in a row": short cycles
(A,B,A,B ...) and the same tool with the same arguments across turns, with a
``tool_loop_warn`` before the halt. Failed results and calls whose arguments
are not JSON are counted (``tool_failure_count()``, ``invalid_tool_call_count()``).

**Drift** works in any script (Unicode words, case folding, diacritics and
light stemming; Han text per character); an answer that rephrases the task
does not warn (see :mod:`tether.regulator.drift` for the score).

**Corrections** persist per user: ``Regulator.for_user("alice", store=store,
autosave=True)`` loads what alice taught earlier (in any process sharing the
store) and saves each new correction; ``r.save()`` saves on demand. Memory is
bounded (256 topic clusters, least recently used evicted).

**Snapshots**: ``r.export_json()`` / ``Regulator.from_json(s)`` are lossless
and versioned; a corrupted snapshot raises :class:`SnapshotError` and one of
another version :class:`SnapshotVersionError` (both ``ValueError``).

**Bad input** raises typed errors and changes nothing: a quality outside
``[0, 1]`` or not finite raises :class:`InvalidQualityError`; an unknown event
type, missing field or wrong type :class:`InvalidEventError` (both
``ValueError``); a bad builder value :class:`InvalidSettingError`.

**Threads**: every method takes the regulator's lock; sharing one is safe.

**In a governed loop**: ``RegulatorPolicy(r)`` (:mod:`.policy`) feeds the loop's
events to the regulator and maps its decisions: a halt stops the run with a
status and the suggestion, a loop warning or learned corrections go into the
next prompt, drift is traced (and re-prompted if asked). The regulator itself
does not depend on the loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._lazy import lazy_exports
from tether.regulator.decision import (
    CircuitBreakReason,
    ConfidenceSpan,
    CorrectionPattern,
    Decision,
    DecisionKind,
    LoopWarning,
    ReasonKind,
)
from tether.regulator.errors import (
    InvalidEventError,
    InvalidQualityError,
    InvalidSettingError,
    RegulatorError,
    SnapshotError,
    SnapshotVersionError,
)
from tether.regulator.events import LLMEvent
from tether.regulator.regulator import Regulator

if TYPE_CHECKING:
    from tether.regulator.policy import RegulatorPolicy

__all__ = [
    "CircuitBreakReason",
    "ConfidenceSpan",
    "CorrectionPattern",
    "Decision",
    "DecisionKind",
    "InvalidEventError",
    "InvalidQualityError",
    "InvalidSettingError",
    "LLMEvent",
    "LoopWarning",
    "ReasonKind",
    "Regulator",
    "RegulatorError",
    "RegulatorPolicy",
    "SnapshotError",
    "SnapshotVersionError",
]


# RegulatorPolicy imports the loop: only when asked for.
__getattr__, __dir__ = lazy_exports(globals(), {"RegulatorPolicy": "tether.regulator.policy"})
