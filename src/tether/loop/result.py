"""How a governed run ended: :class:`LoopStatus` and :class:`LoopResult`.

Every stop has an answer: a status, a reason, whether the run can be resumed,
and what to do next. Reaching a ceiling is a status, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tether.errors import ApprovalDenied, BudgetExceeded, LoopStopped
from tether.llm.types import Usage

__all__ = ["RECOMMENDED", "LoopExit", "LoopResult", "LoopStatus"]


class LoopStatus(StrEnum):
    """Why a run stopped."""

    SUCCESS = "SUCCESS"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    NO_PROGRESS = "NO_PROGRESS"
    PLAN_FAILED = "PLAN_FAILED"
    APPROVAL_DENIED = "APPROVAL_DENIED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    PENDING_EXPIRED = "PENDING_EXPIRED"
    ABORTED = "ABORTED"
    ERROR = "ERROR"


RECOMMENDED: dict[LoopStatus, str] = {
    LoopStatus.SUCCESS: "nothing: the goal was reached",
    LoopStatus.BUDGET_EXHAUSTED: "raise the ceiling that was reached, or narrow the goal, and run again",
    LoopStatus.NO_PROGRESS: "read the trace for the repeated actions; give a hint or a better tool, then run again",
    LoopStatus.PLAN_FAILED: "the model kept making invalid tool calls; check the tool schemas or use a stronger model",
    LoopStatus.APPROVAL_DENIED: "the action was denied; change the goal or the approval policy",
    LoopStatus.AWAITING_APPROVAL: "approve or deny the pending request, then resume",
    LoopStatus.PENDING_EXPIRED: "the approval request expired; run again to get a fresh one",
    LoopStatus.ABORTED: "the run was stopped on request; resume it to continue",
    LoopStatus.ERROR: "see the reason; fix the provider or tool configuration and run again",
}
"""What to do next, by status."""


@dataclass(frozen=True)
class LoopExit:
    """An exit tool that ended the run (see ``Loop(exits=...)``).

    Attributes:
        tool: the exit tool's name.
        arguments: the arguments it was called with.
        value: what it returned.
    """

    tool: str
    arguments: dict[str, Any]
    value: Any = None


@dataclass
class LoopResult:
    """The outcome of :meth:`tether.loop.Loop.run`.

    Attributes:
        status: why it stopped.
        reason: the specific cause, in words (which ceiling, which actions repeated ...).
        resumable: whether running it again from its state can make progress.
        recommended_action: what to do next.
        text: the model's final text (its last answer).
        usage: tokens and requests over the whole run.
        cost_usd: USD over the run, ``None`` when the model has no price.
        iterations: iterations started.
        signals: what the evaluation noticed along the way (repetition, regression ...).
        exit: the exit tool that ended the run, if one did.
    """

    status: LoopStatus
    reason: str
    resumable: bool = False
    recommended_action: str = ""
    text: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    iterations: int = 0
    signals: list[str] = field(default_factory=list)
    exit: LoopExit | None = None

    def __post_init__(self) -> None:
        if not self.recommended_action:
            self.recommended_action = RECOMMENDED[self.status]

    @property
    def ok(self) -> bool:
        """True for SUCCESS."""
        return self.status is LoopStatus.SUCCESS

    def raise_for_status(self) -> LoopResult:
        """Raise the matching public error unless the run succeeded; else return ``self``.

        - ``SUCCESS``: nothing is raised; the result is returned (so calls can chain).
        - ``BUDGET_EXHAUSTED``: :class:`tether.errors.BudgetExceeded` (``limit`` is the ceiling
          named in :attr:`reason`, e.g. ``"iterations"``; ``used``/``allowed`` the figure in
          parentheses there, ``0`` when the reason gives none).
        - ``APPROVAL_DENIED``: :class:`tether.errors.ApprovalDenied`.
        - every other status (``NO_PROGRESS``, ``PLAN_FAILED``, ``AWAITING_APPROVAL``,
          ``PENDING_EXPIRED``, ``ABORTED``, ``ERROR``): :class:`tether.errors.LoopStopped`,
          with the status and reason in its message.

        Raises:
            BudgetExceeded | ApprovalDenied | LoopStopped: as above.
        """
        if self.status is LoopStatus.SUCCESS:
            return self
        if self.status is LoopStatus.BUDGET_EXHAUSTED:
            limit, _, rest = self.reason.partition(" ceiling")
            figure = rest.partition("(")[2].partition(")")[0]
            try:
                allowed = float(figure)
            except ValueError:
                allowed = 0.0
            raise BudgetExceeded(limit.strip() or "budget", allowed, allowed)
        if self.status is LoopStatus.APPROVAL_DENIED:
            raise ApprovalDenied(f"{self.status}: {self.reason}")
        raise LoopStopped(f"{self.status}: {self.reason}")
