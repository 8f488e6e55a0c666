"""The regulator inside the governed loop: :class:`RegulatorPolicy`.

The policy turns the loop's own events into regulator events — the goal as
the task (``turn_start``, once with ``new_task=True``), each model call as a
turn (``turn_complete`` + ``cost``), each tool call and result — and maps the
regulator's decision after every iteration to loop behaviour:

- ``circuit_break`` → the run stops with a status and the regulator's
  suggestion (cost cap → BUDGET_EXHAUSTED; loops, failures, decline → NO_PROGRESS);
- ``tool_loop_warn`` → a nudge in the next prompt;
- ``scope_drift_warn`` → traced; re-prompted with the goal when ``reprompt_on_drift``;
- ``procedural_warning`` → the user's learned corrections go into the next prompt.

When the loop has a goal metric, its trend is the quality signal the
regulator's cost × quality rule needs (improved 0.9, flat 0.4, regressed 0.1).

Example::

    r = Regulator.for_user("alice", store=engine.store, autosave=True).with_cost_cap(50_000)
    Loop(goal, tools, llm, policies=[NoProgress(), RegulatorPolicy(r)]).run()
"""

from __future__ import annotations

import json
from typing import Any

from tether.loop.progress import IterationReport, PolicyDecision
from tether.regulator.events import LLMEvent
from tether.regulator.regulator import Regulator

__all__ = ["RegulatorPolicy"]

_QUALITY = {"improved": 0.9, "flat": 0.4, "regressed": 0.1}
_STATUS = {"cost_cap_reached": "BUDGET_EXHAUSTED"}


class RegulatorPolicy:
    """A loop policy driven by a :class:`~tether.regulator.Regulator`.

    Args:
        regulator: the regulator to feed and consult (one per task; it may be shared with
            the app, e.g. to add ``user_correction`` events).
        reprompt_on_drift: on ``scope_drift_warn``, restate the goal in the next prompt.
    """

    def __init__(self, regulator: Regulator, *, reprompt_on_drift: bool = False) -> None:
        self.regulator = regulator
        self.reprompt_on_drift = reprompt_on_drift
        self.goal = ""
        self.decisions: list[str] = []
        """Every non-``continue`` decision kind, in order (for tests and explain)."""

    # -- events in ---------------------------------------------------------------------------------

    def on_loop_event(self, event: dict[str, Any]) -> None:
        """Translate one loop trace event into regulator events."""
        kind = event.get("event")
        r = self.regulator
        if kind == "loop.start":
            self.goal = str(event.get("goal", ""))
            r.on_event(LLMEvent.turn_start(self.goal, new_task=True))
        elif kind == "iteration.start" and event.get("iteration", 1) > 1:
            r.on_event(LLMEvent.turn_start(self.goal))
        elif kind == "llm.call":
            r.on_event(LLMEvent.turn_complete(str(event.get("text", ""))))
            r.on_event(
                LLMEvent.cost(
                    int(event.get("input_tokens", 0)),
                    int(event.get("output_tokens", 0)),
                    0,
                    str(event.get("model", "")) or None,
                )
            )
        elif kind == "tool.call":
            args = event.get("arguments")
            text = args if isinstance(args, str) else json.dumps(args, sort_keys=True, default=str)
            r.on_event(LLMEvent.tool_call(str(event["tool"]), text))
        elif kind == "tool.result":
            ok = event.get("status") == "ok"
            summary = None if ok else str(event.get("content", ""))[:500]
            duration_ms = float(event.get("duration_s", 0.0)) * 1000
            r.on_event(LLMEvent.tool_result(str(event["tool"]), ok, duration_ms, summary))

    # -- decisions out -----------------------------------------------------------------------------

    def __call__(self, report: IterationReport) -> PolicyDecision | None:
        """Consult the regulator after an iteration."""
        if report.trend in _QUALITY:
            self.regulator.on_event(LLMEvent.quality_feedback(_QUALITY[report.trend]))
        decision = self.regulator.decide()
        if decision.kind == "continue":
            return None
        self.decisions.append(decision.kind)
        if decision.kind == "circuit_break" and decision.reason is not None:
            why = decision.reason.kind
            return PolicyDecision(
                stop=True,
                status=_STATUS.get(why, "NO_PROGRESS"),
                reason=f"regulator: {why}; {decision.suggestion or ''}".strip("; "),
            )
        if decision.kind == "tool_loop_warn":
            return PolicyDecision(
                message="You are repeating the same tool calls in a cycle. Change approach."
            )
        if decision.kind == "scope_drift_warn":
            if self.reprompt_on_drift:
                return PolicyDecision(message=f"Stay on the goal: {self.goal}")
            return PolicyDecision()
        if decision.kind == "procedural_warning":
            prelude = self.regulator.corrections_prelude(self.goal)
            return PolicyDecision(message=prelude) if prelude else None
        return None
