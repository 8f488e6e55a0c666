"""Is the run getting anywhere? Goal metrics, repetition, regression, and :class:`NoProgress`.

A :class:`GoalMetric` turns an observation into a :class:`MetricSnapshot`: a
value (distance to the goal, lower is better), a human-readable detail, and
the *identities* of what is still wrong (e.g. failing test ids). Identity, not
counts, is what makes regression visible: fixing one test while breaking
another leaves the total flat but is a regression.

Repetition is judged on fingerprints of ``(tool, normalised arguments)``: the
same action seen earlier in the run — consecutively or alternating A, B, A,
B — is a repeat. A turn with text only and no tool call also makes no
progress. The model's own claims of success are traced but never end a run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from tether.llm.types import ToolCall
from tether.loop.hooks import GoalMetric

__all__ = [
    "GoalMetric",
    "IterationReport",
    "MetricSnapshot",
    "NoProgress",
    "PolicyDecision",
    "action_fingerprint",
]


@dataclass(frozen=True)
class MetricSnapshot:
    """One measurement of the goal.

    Attributes:
        value: distance to the goal; lower is better (e.g. number of failing tests).
        detail: a short description for prompts and traces.
        failing: identities of what is still wrong (test ids, file names ...).
        success: the goal is reached.
    """

    value: float
    detail: str = ""
    failing: frozenset[str] = frozenset()
    success: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for saved state)."""
        return {
            "value": self.value,
            "detail": self.detail,
            "failing": sorted(self.failing),
            "success": self.success,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricSnapshot:
        """The inverse of :meth:`to_dict`."""
        return cls(
            float(data["value"]),
            str(data.get("detail", "")),
            frozenset(data.get("failing", ())),
            bool(data.get("success", False)),
        )

    def compare(self, before: MetricSnapshot | None) -> str:
        """``"improved"``, ``"regressed"``, ``"flat"`` or ``"first"`` relative to ``before``.

        A regression is any identity failing now that was not failing before, whatever the totals.
        """
        if before is None:
            return "first"
        if self.failing - before.failing:
            return "regressed"
        if self.success and not before.success:
            return "improved"
        if self.value < before.value or self.failing < before.failing:
            return "improved"
        if self.value > before.value:
            return "regressed"
        return "flat"


def action_fingerprint(call: ToolCall) -> str:
    """A stable id of ``(tool, arguments)``: keys sorted, whitespace in strings collapsed."""

    def norm(value: Any) -> Any:
        if isinstance(value, str):
            return " ".join(value.split())
        if isinstance(value, dict):
            return {k: norm(v) for k, v in sorted(value.items())}
        if isinstance(value, list | tuple):
            return [norm(v) for v in value]
        return value

    args = call.arguments if isinstance(call.arguments, str) else norm(call.arguments)
    text = json.dumps([call.name, args], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass
class IterationReport:
    """What one iteration did, for policies.

    Attributes:
        index: 1-based iteration number.
        tool_calls: the calls the model made.
        repeated: fingerprints of calls already made earlier in the run.
        invalid: calls that failed validation (unknown tool, bad arguments).
        text_only: the model answered with text and no tool call.
        metric: the measurement taken at the start of the *next* iteration (after the actions),
            so progress is credited to the iteration that caused it.
        trend: ``metric.compare(previous)``.
        text: the model's text in this iteration.
    """

    index: int
    tool_calls: list[ToolCall] = field(default_factory=list)
    text: str = ""
    repeated: list[str] = field(default_factory=list)
    invalid: int = 0
    text_only: bool = False
    metric: MetricSnapshot | None = None
    trend: str = "first"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for saved state; the text is cut to 2,000 characters)."""
        return {
            "index": self.index,
            "text": self.text[:2000],
            "repeated": self.repeated,
            "invalid": self.invalid,
            "text_only": self.text_only,
            "trend": self.trend,
            "tool_calls": [
                {"name": c.name, "arguments": c.arguments, "id": c.id} for c in self.tool_calls
            ],
            "metric": self.metric.to_dict() if self.metric is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IterationReport:
        """The inverse of :meth:`to_dict`."""
        metric = data.get("metric")
        return cls(
            index=int(data["index"]),
            text=str(data.get("text", "")),
            tool_calls=[
                ToolCall(c["name"], c["arguments"], c.get("id", ""))
                for c in data.get("tool_calls", [])
            ],
            repeated=list(data.get("repeated", [])),
            invalid=int(data.get("invalid", 0)),
            text_only=bool(data.get("text_only", False)),
            trend=str(data.get("trend", "first")),
            metric=MetricSnapshot.from_dict(metric) if metric else None,
        )

    @property
    def productive(self) -> bool:
        """Some new, valid action was taken, or the metric improved."""
        if self.trend == "improved":
            return True
        if self.text_only or not self.tool_calls:
            return False
        new_valid = len(self.tool_calls) - len(self.repeated) - self.invalid
        return new_valid > 0


@dataclass(frozen=True)
class PolicyDecision:
    """A policy's verdict after an iteration: stop with a status, or go on.

    Attributes:
        stop: end the run now.
        status: the status to end with (a :class:`~tether.loop.result.LoopStatus` value).
        reason: why, in words.
        message: text to add to the next prompt when going on (a nudge, corrections).
    """

    stop: bool = False
    status: str = "NO_PROGRESS"
    reason: str = ""
    message: str = ""


class NoProgress:
    """Stop after ``window`` iterations in a row with no productive action and no metric gain.

    On by default (``window=3``). Unproductive: every tool call repeats an earlier
    action or is invalid, or the model answered text only.

    Args:
        window: unproductive iterations in a row that end the run (NO_PROGRESS).
    """

    def __init__(self, window: int = 3) -> None:
        if window < 1:
            raise ValueError("NoProgress window must be at least 1")
        self.window = window
        self._streak = 0

    def __call__(self, report: IterationReport) -> PolicyDecision | None:
        """Judge one finished iteration."""
        if report.productive:
            self._streak = 0
            return None
        self._streak += 1
        if self._streak < self.window:
            what = (
                "text with no tool call" if report.text_only else "only repeated or invalid actions"
            )
            return PolicyDecision(
                message=f"Iteration {report.index} made no progress ({what}). Try a different action."
            )
        if report.text_only:
            why = "the model answered without acting"
        elif report.repeated:
            why = "the same actions were repeated"
        else:
            why = "the actions were invalid"
        return PolicyDecision(
            stop=True,
            status="NO_PROGRESS",
            reason=f"{self._streak} iterations in a row made no progress ({why}) and the goal metric did not move",
        )

    def reset(self) -> None:
        """Forget the streak."""
        self._streak = 0

    def state(self) -> dict[str, Any]:
        """What to keep across a resume (the loop saves it with the run)."""
        return {"streak": self._streak}

    def restore(self, data: dict[str, Any]) -> None:
        """Take back what :meth:`state` returned."""
        self._streak = int(data.get("streak", 0))
