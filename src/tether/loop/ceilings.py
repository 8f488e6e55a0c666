"""The ceilings of a governed run, and when each is checked.

Like pydantic-ai's ``UsageLimits`` (``pydantic_ai/usage.py``), one object holds the limits
and says when each one is checked. A ceiling that is reached ends the run with a status
(BUDGET_EXHAUSTED), never an exception, and the run stays resumable.

==========================  ===================================================================
check                       when
==========================  ===================================================================
:meth:`at_safe_point`       at the start of each iteration and again before a tool batch runs:
                            wall clock (seconds), tokens, tool calls, USD spent so far
:meth:`before_call`         before each model call, with that call's estimated input tokens
                            counted: refuses the call when fewer than 16 output tokens would be
                            left, else clamps its ``max_tokens`` to what is left (tokens and,
                            with a USD ceiling and a price, USD)
:meth:`after_usage`         after a call's usage is counted (the next safe point acts on it)
:meth:`tool_calls_refused`  before each call of a batch: calls past ``max_tool_calls`` are not
                            run (exit calls always are)
:meth:`iterations_done`     at the end of each iteration, before the next one plans
==========================  ===================================================================

Work done elsewhere and charged to the run (``Loop.charge``, e.g. a child loop) is in the
run's usage, so the next of these checks sees it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from tether.llm.types import ToolCall
from tether.loop.run_state import RunState

__all__ = ["EXTENDABLE", "MIN_OUTPUT_TOKENS", "Ceilings", "Remaining"]

MIN_OUTPUT_TOKENS = 16
"""A model call that could write fewer output tokens than this is not made."""

EXTENDABLE = ("max_iterations", "token_limit", "wall_clock_s", "cost_limit_usd", "max_tool_calls")
"""Ceilings that ``Loop.load(extend=...)`` may raise."""


@dataclass(frozen=True)
class Remaining:
    """What is left of a run's ceilings (never negative).

    Attributes:
        iterations: iterations that may still start.
        tokens: input + output tokens left under ``token_limit``.
        cost_usd: USD left under the USD ceiling; ``None`` when the run has none.
        wall_clock_s: seconds left under ``wall_clock_s``.
    """

    iterations: int
    tokens: int
    cost_usd: float | None
    wall_clock_s: float


@dataclass(frozen=True)
class Ceilings:
    """The limits of one run (see the module docstring for when each is checked).

    Attributes:
        max_iterations: iterations, at most.
        token_limit: input + output tokens, at most (estimated input counted before each call).
        wall_clock_s: seconds of running, summed over resumed sessions.
        cost_limit_usd: USD, at most; ``None`` for no USD ceiling.
        max_tokens_per_call: output tokens of one model call, before clamping.
        max_tool_calls: tool calls run (exit calls not counted); ``None`` for no ceiling.

    Raises:
        ValueError: a ceiling is not positive (naming it).
    """

    max_iterations: int = 20
    token_limit: int = 500_000
    wall_clock_s: float = 1800.0
    cost_limit_usd: float | None = None
    max_tokens_per_call: int = 4096
    max_tool_calls: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_iterations", "token_limit", "wall_clock_s", "max_tokens_per_call"):
            value = getattr(self, name)
            if not value or value <= 0:
                raise ValueError(f"Loop {name} must be positive, got {value!r}")
        if self.max_tool_calls is not None and self.max_tool_calls <= 0:
            raise ValueError(f"Loop max_tool_calls must be positive, got {self.max_tool_calls!r}")

    def to_dict(self) -> dict[str, Any]:
        """The ceilings, JSON-ready (as saved with the run)."""
        return asdict(self)

    def extended(self, extend: Mapping[str, float]) -> Ceilings:
        """These ceilings with ``extend`` added, e.g. ``{"token_limit": 50_000}``.

        Raises:
            ValueError: an unknown key (not in :data:`EXTENDABLE`) or a negative amount.
        """
        changes: dict[str, Any] = {}
        for key, amount in extend.items():
            if key not in EXTENDABLE:
                raise ValueError(
                    f"extend: unknown ceiling {key!r} (one of {', '.join(EXTENDABLE)})"
                )
            if amount < 0:
                raise ValueError(f"extend: {key} must not be negative")
            value = (getattr(self, key) or 0) + amount
            changes[key] = value if key in ("wall_clock_s", "cost_limit_usd") else int(value)
        return replace(self, **changes)

    def describe(self) -> str:
        """The ceilings in one line, for the start announcement and traces."""
        usd = f", ${self.cost_limit_usd:g}" if self.cost_limit_usd is not None else ""
        return (
            f"{self.max_iterations} iterations, {self.token_limit:,} tokens, "
            f"{self.wall_clock_s:g}s wall-clock{usd}"
        )

    # -- the checks --------------------------------------------------------------------------------

    def at_safe_point(self, state: RunState, now: float) -> str | None:
        """Checked at the start of each iteration and before a tool batch: the reason a ceiling
        is reached (wall clock at clock reading ``now``, tokens, tool calls, USD), or ``None``."""
        elapsed = state.elapsed(now)
        if elapsed >= self.wall_clock_s:
            return f"wall-clock ceiling reached ({elapsed:.1f} of {self.wall_clock_s:g} s)"
        return self.after_usage(state)

    def after_usage(self, state: RunState) -> str | None:
        """Checked once usage is counted: the reason a spending ceiling is reached, or ``None``."""
        used = state.usage.total_tokens
        if used >= self.token_limit:
            return f"token ceiling reached ({used:,} of {self.token_limit:,})"
        if self.max_tool_calls is not None and state.tool_calls_made >= self.max_tool_calls:
            return f"tool-call ceiling reached ({state.tool_calls_made} of {self.max_tool_calls})"
        if self.cost_limit_usd is not None and (state.cost_usd or 0.0) >= self.cost_limit_usd:
            return f"USD ceiling reached (${state.cost_usd:.4f} of ${self.cost_limit_usd:g})"
        return None

    def before_call(
        self, state: RunState, estimate: int, price: Any = None
    ) -> tuple[int, str | None]:
        """Checked before each model call whose input is estimated at ``estimate`` tokens.

        Args:
            state: the run (its usage and USD so far).
            estimate: the next call's input tokens (an over-estimate).
            price: the model's price (``.input``/``.output`` in USD per million tokens) when a
                USD ceiling is set and the model has one, else ``None``.

        Returns:
            ``(max_tokens, None)``: the call may go with this output limit; or ``(0, reason)``:
            it must not be made.
        """
        left = self.token_limit - state.usage.total_tokens - estimate
        if left < MIN_OUTPUT_TOKENS:
            return 0, (
                f"token ceiling: the next call needs about {estimate:,} input tokens and only "
                f"{self.token_limit - state.usage.total_tokens:,} are left"
            )
        max_tokens = min(self.max_tokens_per_call, left)
        if self.cost_limit_usd is not None and price is not None:
            projected = (state.cost_usd or 0.0) + estimate * price.input / 1e6
            if projected >= self.cost_limit_usd:
                return 0, f"USD ceiling: the next call would cost about ${projected:.4f} in total"
            room = self.cost_limit_usd - projected
            max_tokens = max(1, min(max_tokens, int(room * 1e6 / price.output)))
        return max_tokens, None

    def tool_calls_refused(
        self, state: RunState, calls: Sequence[ToolCall], skip: set[str]
    ) -> dict[str, str]:
        """Checked before a batch runs: the calls (id → note) past ``max_tool_calls``.

        Calls whose id is in ``skip`` (denied, or exit calls) are neither counted nor refused.
        """
        refused: dict[str, str] = {}
        if self.max_tool_calls is None:
            return refused
        left = self.max_tool_calls - state.tool_calls_made
        for call in calls:
            if call.id in skip:
                continue
            if left <= 0:
                refused[call.id] = (
                    f"tool-call ceiling reached ({self.max_tool_calls} calls): {call.name} "
                    "was not run"
                )
            left -= 1
        return refused

    def iterations_done(self, index: int) -> str | None:
        """Checked before iteration ``index`` plans: the reason when it is past the ceiling."""
        if index > self.max_iterations:
            return f"iterations ceiling reached ({self.max_iterations})"
        return None

    def remaining(self, state: RunState, elapsed_s: float) -> Remaining:
        """What is left after ``state``'s spending and ``elapsed_s`` seconds of running."""
        usd = (
            None
            if self.cost_limit_usd is None
            else max(0.0, self.cost_limit_usd - (state.cost_usd or 0.0))
        )
        return Remaining(
            iterations=max(0, self.max_iterations - state.iteration),
            tokens=max(0, self.token_limit - state.usage.total_tokens),
            cost_usd=usd,
            wall_clock_s=max(0.0, self.wall_clock_s - elapsed_s),
        )
