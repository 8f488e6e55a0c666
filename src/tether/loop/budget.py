"""Money and token accounting: the :class:`CostLimit` policy and :class:`BudgetReport`.

The loop's ceilings are constructor arguments; :class:`CostLimit` is the same
USD ceiling written as a policy (``policies=[NoProgress(), CostLimit(2.0)]``),
plus an early warning the model and the trace see when most of the money is
spent. Like every ceiling it is checked before each model call, with the next
call's input counted; a model missing from the price table makes the run
refuse to start rather than run unbounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.loop.progress import IterationReport, PolicyDecision

__all__ = ["BudgetReport", "CostLimit"]


class CostLimit:
    """A USD ceiling for a loop, as a policy.

    Args:
        usd: the most the run may spend, in USD (the loop uses the lowest of all its USD limits).
        warn_at: fraction of ``usd`` after which the next prompt says how much is left.

    Raises:
        ValueError: ``usd`` not positive or ``warn_at`` outside (0, 1].
    """

    def __init__(self, usd: float, *, warn_at: float = 0.8) -> None:
        if usd <= 0:
            raise ValueError(f"CostLimit usd must be positive, got {usd!r}")
        if not 0 < warn_at <= 1:
            raise ValueError(f"CostLimit warn_at must be in (0, 1], got {warn_at!r}")
        self.usd = usd
        self.warn_at = warn_at
        self.spent_usd: float | None = 0.0
        self._warned = False

    def on_loop_event(self, event: dict[str, Any]) -> None:
        """Keeps the spend up to date from ``llm.call`` events."""
        if event.get("event") == "llm.call":
            cost = event.get("cost_usd")
            if cost is None:
                self.spent_usd = None
            elif self.spent_usd is not None:
                self.spent_usd += float(cost)

    def __call__(self, report: IterationReport) -> PolicyDecision | None:
        """A one-time warning when ``warn_at`` of the money is spent (the ceiling itself is
        enforced by the loop before each call)."""
        if self._warned or self.spent_usd is None or self.spent_usd < self.usd * self.warn_at:
            return None
        self._warned = True
        left = self.usd - self.spent_usd
        return PolicyDecision(
            message=f"Budget: ${self.spent_usd:.4f} of ${self.usd:g} spent, ${left:.4f} left. "
            "Prefer the cheapest action that finishes the goal."
        )

    def state(self) -> dict[str, Any]:
        """What to keep across a resume."""
        return {"spent_usd": self.spent_usd, "warned": self._warned}

    def restore(self, data: dict[str, Any]) -> None:
        """Take back what :meth:`state` returned."""
        self.spent_usd = data.get("spent_usd", 0.0)
        self._warned = bool(data.get("warned", False))


@dataclass(frozen=True)
class BudgetReport:
    """Where the tokens go (from :meth:`tether.loop.Loop.budget_report`).

    The first four are estimates of the *next* prompt, in tokens; the rest are run totals.

    Attributes:
        pinned: the system prompt (goal, rules, pinned facts).
        summaries: the summary of iterations older than the verbatim window.
        verbatim: the iterations kept word for word, with the current one.
        tools: the tool definitions sent with each call.
        spent_input, spent_output: tokens used so far.
        token_limit: the ceiling; ``left`` is what remains of it.
        cost_usd: USD so far (``None`` when the model has no price); ``cost_limit_usd`` its ceiling.
    """

    pinned: int
    summaries: int
    verbatim: int
    tools: int
    spent_input: int
    spent_output: int
    token_limit: int
    cost_usd: float | None
    cost_limit_usd: float | None

    @property
    def next_prompt(self) -> int:
        """Estimated input tokens of the next call."""
        return self.pinned + self.summaries + self.verbatim + self.tools

    @property
    def spent(self) -> int:
        """Input plus output tokens used so far."""
        return self.spent_input + self.spent_output

    @property
    def left(self) -> int:
        """Tokens left under the ceiling."""
        return max(0, self.token_limit - self.spent)

    def to_markdown(self) -> str:
        """A small table, for people."""
        rows = [
            ("pinned (goal, facts)", self.pinned),
            ("summaries", self.summaries),
            ("verbatim iterations", self.verbatim),
            ("tool definitions", self.tools),
            ("next prompt (estimate)", self.next_prompt),
            ("spent: input", self.spent_input),
            ("spent: output", self.spent_output),
            ("left under the ceiling", self.left),
        ]
        lines = ["| part | tokens |", "|---|---:|"] + [f"| {k} | {v:,} |" for k, v in rows]
        if self.cost_usd is not None:
            limit = f" of ${self.cost_limit_usd:g}" if self.cost_limit_usd is not None else ""
            lines.append(f"\nCost so far: ${self.cost_usd:.4f}{limit}")
        return "\n".join(lines)
