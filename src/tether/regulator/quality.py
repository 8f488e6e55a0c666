"""Cost x quality: the budget, quality that keeps falling, a task whose answers keep failing.

All three read the task's running totals, updated in O(1) per event:

- **cost cap** (``cost_cap_reached``): output tokens spent in the task went
  over the cap *and* the mean of the last ``window`` quality scores is below
  ``poor`` (spending is fine while answers are good; with no score yet there
  is nothing to call poor, so no halt).
- **decline** (``quality_decline_no_recovery``): over the last ``window``
  scores quality fell by at least ``decline_min`` (first minus last) and their
  mean is below ``poor``.
- **failing task** (``repeated_failure_pattern``): ``task_failure_halt`` poor
  scores in a row for turns on one topic cluster.
"""

from __future__ import annotations

from typing import Any

from tether.regulator.decision import CircuitBreakReason

__all__ = ["CostQuality"]

_MAX_CLUSTERS = 256
_EPS = 1e-9


class CostQuality:
    """Running cost and quality of a task, and the halts they imply."""

    __slots__ = (
        "cap",
        "cluster_fails",
        "decline_min",
        "poor",
        "qualities",
        "task_failure_halt",
        "tokens_in",
        "tokens_out",
        "wallclock_ms",
        "window",
    )

    def __init__(
        self,
        *,
        cap: int = 10_000,
        window: int = 3,
        poor: float = 0.5,
        decline_min: float = 0.15,
        task_failure_halt: int = 3,
    ) -> None:
        self.cap = cap
        self.window = window
        self.poor = poor
        self.decline_min = decline_min
        self.task_failure_halt = task_failure_halt
        self.new_task()

    def new_task(self) -> None:
        """Forget the task's spending and scores."""
        self.tokens_in = 0
        self.tokens_out = 0
        self.wallclock_ms = 0.0
        self.qualities: list[float] = []
        self.cluster_fails: dict[str, int] = {}

    def mean_quality(self) -> float | None:
        """Mean of the last ``window`` scores, or ``None`` before the first score."""
        q = self.qualities
        return sum(q) / len(q) if q else None

    def _cap_reason(self) -> CircuitBreakReason | None:
        if self.tokens_out <= self.cap:
            return None
        mean = self.mean_quality()
        if mean is None or mean >= self.poor:
            return None
        return CircuitBreakReason(
            "cost_cap_reached",
            tokens_spent=self.tokens_out,
            tokens_cap=self.cap,
            mean_quality_last_n=mean,
        )

    def on_cost(
        self, tokens_in: int, tokens_out: int, wallclock_ms: float
    ) -> CircuitBreakReason | None:
        """Add a turn's cost; the cost-cap halt if it now holds."""
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.wallclock_ms += wallclock_ms
        return self._cap_reason()

    def on_quality(self, quality: float, cluster: str) -> CircuitBreakReason | None:
        """Add a score for a turn on ``cluster``; the most urgent halt that now holds."""
        q = self.qualities
        q.append(quality)
        if len(q) > self.window:
            del q[0]
        reason = self._cap_reason()
        if reason is not None:
            return reason
        mean = sum(q) / len(q)
        if len(q) == self.window and mean < self.poor:
            delta = q[0] - q[-1]
            if delta >= self.decline_min - _EPS:
                return CircuitBreakReason(
                    "quality_decline_no_recovery", turns=self.window, mean_delta=delta
                )
        if not cluster:
            return None
        fails = self.cluster_fails
        if quality >= self.poor:
            fails.pop(cluster, None)
            return None
        streak = fails.pop(cluster, 0) + 1
        fails[cluster] = streak  # most recent last: the oldest is evicted first
        if len(fails) > _MAX_CLUSTERS:
            del fails[next(iter(fails))]
        if streak >= self.task_failure_halt:
            return CircuitBreakReason(
                "repeated_failure_pattern", cluster=cluster, failure_count=streak
            )
        return None

    def to_dict(self) -> dict[str, Any]:
        """Everything but the settings, for a snapshot."""
        return {
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "wallclock_ms": self.wallclock_ms,
            "qualities": list(self.qualities),
            "cluster_fails": [[k, v] for k, v in self.cluster_fails.items()],
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore from :meth:`to_dict` output."""
        self.tokens_in = data["tokens_in"]
        self.tokens_out = data["tokens_out"]
        self.wallclock_ms = float(data["wallclock_ms"])
        self.qualities = [float(x) for x in data["qualities"]]
        self.cluster_fails = {k: v for k, v in data["cluster_fails"]}
