"""What the regulator says: one :class:`Decision` per ``decide()``, branch on ``.kind``.

Kinds, in the locked priority order (the first that holds wins)::

    circuit_break       reason.kind: cost_cap_reached > quality_decline_no_recovery
                                     > repeated_tool_call_loop > repeated_failure_pattern
    tool_loop_warn      a tool loop is forming; the halt follows if it goes on
    scope_drift_warn    the response left the task's topic
    procedural_warning  the user has corrected this topic before
    low_confidence_spans  stretches of the response whose tokens had low probability
    continue            nothing to act on

Decisions are frozen; attributes that do not apply to a kind are ``None`` or empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CONTINUE",
    "CircuitBreakReason",
    "ConfidenceSpan",
    "CorrectionPattern",
    "Decision",
    "DecisionKind",
    "LoopWarning",
    "ReasonKind",
]

DecisionKind = Literal[
    "continue",
    "scope_drift_warn",
    "circuit_break",
    "tool_loop_warn",
    "procedural_warning",
    "low_confidence_spans",
]
ReasonKind = Literal[
    "cost_cap_reached",
    "quality_decline_no_recovery",
    "repeated_tool_call_loop",
    "repeated_failure_pattern",
]

REASON_PRIORITY: dict[str, int] = {
    "cost_cap_reached": 0,
    "quality_decline_no_recovery": 1,
    "repeated_tool_call_loop": 2,
    "repeated_failure_pattern": 3,
}
"""Lower is more urgent; a latched halt is only replaced by a more urgent one."""


@dataclass(frozen=True, slots=True)
class CircuitBreakReason:
    """Why the run should stop. Fields that do not apply to ``kind`` are ``None``.

    - ``cost_cap_reached``: ``tokens_spent`` (output tokens in the task) went over
      ``tokens_cap`` while ``mean_quality_last_n`` (mean of the last qualities) was poor.
    - ``quality_decline_no_recovery``: over the last ``turns`` scores quality fell
      by ``mean_delta`` (first minus last) and their mean is poor.
    - ``repeated_tool_call_loop``: ``tool_name`` was called ``consecutive_count``
      times in a loop; ``pattern`` is ``same_tool`` (in a row), ``cycle``
      (A,B,A,B ...; ``tool_name`` is ``"A>B"``) or ``same_call`` (same tool and
      arguments across turns).
    - ``repeated_failure_pattern``: ``cluster`` (``tool:<name>`` for a tool, or a
      topic cluster for a task whose answers keep scoring poorly) failed
      ``failure_count`` times in a row.
    """

    kind: ReasonKind
    tokens_spent: int | None = None
    tokens_cap: int | None = None
    mean_quality_last_n: float | None = None
    turns: int | None = None
    mean_delta: float | None = None
    tool_name: str | None = None
    consecutive_count: int | None = None
    pattern: str | None = None
    cluster: str | None = None
    failure_count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The reason's non-``None`` fields."""
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}


@dataclass(frozen=True, slots=True)
class CorrectionPattern:
    """A correction the user has made repeatedly on one topic cluster.

    Attributes:
        pattern_name: ``corrections_on_<topic_cluster>``.
        topic_cluster: the topic (see :func:`tether.regulator.tokenize.topic_cluster`).
        example_corrections: the latest correction texts, newest first.
        learned_from_turns: how many corrections the pattern was learned from.
        confidence: in ``[0, 1]``, growing with ``learned_from_turns``.
    """

    user_id: str
    topic_cluster: str
    pattern_name: str
    example_corrections: tuple[str, ...]
    learned_from_turns: int
    confidence: float


@dataclass(frozen=True, slots=True)
class ConfidenceSpan:
    """A stretch of the response whose tokens were unlikely.

    Attributes:
        start_char: offset of its first character in the concatenated tokens.
        end_char: offset one past its last character.
        confidence: ``exp(mean_token_logprob)``, in ``[0, 1]``.
        mean_token_logprob: mean natural-log probability of its tokens.
        text: the span's text.
    """

    start_char: int
    end_char: int
    confidence: float
    mean_token_logprob: float
    text: str


@dataclass(frozen=True, slots=True)
class LoopWarning:
    """A tool loop that is forming (``pattern`` as in :class:`CircuitBreakReason`).

    Attributes:
        halt_at: the count at which the loop becomes a ``circuit_break``.
    """

    tool_name: str
    consecutive_count: int
    pattern: str
    halt_at: int


@dataclass(frozen=True, slots=True)
class Decision:
    """The regulator's answer; branch on ``kind`` (see the module docstring).

    Attributes:
        kind: which decision.
        reason, suggestion: for ``circuit_break`` (``suggestion`` also for ``tool_loop_warn``).
        drift_score, drift_tokens, task_tokens: for ``scope_drift_warn`` (score in ``[0, 1]``).
        patterns: for ``procedural_warning``.
        spans: for ``low_confidence_spans``.
        loop: for ``tool_loop_warn``.
    """

    kind: DecisionKind
    reason: CircuitBreakReason | None = None
    suggestion: str | None = None
    drift_score: float | None = None
    drift_tokens: tuple[str, ...] = ()
    task_tokens: tuple[str, ...] = ()
    patterns: tuple[CorrectionPattern, ...] = ()
    spans: tuple[ConfidenceSpan, ...] = ()
    loop: LoopWarning | None = None

    def is_continue(self) -> bool:
        """``kind == "continue"``."""
        return self.kind == "continue"

    def is_circuit_break(self) -> bool:
        """``kind == "circuit_break"``: stop the run."""
        return self.kind == "circuit_break"

    def is_scope_drift(self) -> bool:
        """``kind == "scope_drift_warn"``."""
        return self.kind == "scope_drift_warn"

    def is_procedural_warning(self) -> bool:
        """``kind == "procedural_warning"``."""
        return self.kind == "procedural_warning"

    def is_low_confidence(self) -> bool:
        """``kind == "low_confidence_spans"``."""
        return self.kind == "low_confidence_spans"

    def is_loop_warning(self) -> bool:
        """``kind == "tool_loop_warn"``."""
        return self.kind == "tool_loop_warn"


CONTINUE = Decision("continue")
"""The one ``continue`` decision (decisions are immutable, so it is shared)."""
