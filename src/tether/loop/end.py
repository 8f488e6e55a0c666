"""How a governed run ends: an :class:`End` value holding the result, never an exception.

Every normal stop (a ceiling, a policy's STOP, an exit tool, the goal met, an approval
pause ...) is a step returning :func:`finish`'s :class:`End`. It traces ``loop.end`` and
saves the status, so a resumed run knows how the last session ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from tether.loop.persist import save
from tether.loop.result import LoopExit, LoopResult, LoopStatus
from tether.loop.run_state import RunState
from tether.loop.services import Services
from tether.loop.state import StateError

__all__ = ["End", "finish"]


@dataclass(frozen=True)
class End:
    """The run is over; :attr:`result` says how (like pydantic-graph's ``End``)."""

    result: LoopResult


def finish(
    state: RunState,
    deps: Services,
    status: LoopStatus,
    reason: str,
    *,
    resumable: bool = False,
    text: str | None = None,
    exit: LoopExit | None = None,
) -> End:
    """End the run: build the result, trace ``loop.end``, save the status.

    Args:
        status, reason: how and why the run ended.
        resumable: ``Loop.resume`` may continue it.
        text: the result's text (default: the model's last text).
        exit: the exit call that ended it, if one did.

    Returns:
        The :class:`End`; a state that cannot be saved is noted in its reason, never raised.
    """
    result = LoopResult(
        status=status,
        reason=reason,
        resumable=resumable,
        text=state.last_text if text is None else text,
        usage=state.usage,
        cost_usd=state.cost_usd,
        iterations=state.iteration,
        signals=list(state.signals),
        exit=exit,
    )
    deps.emit(
        "loop.end",
        status=status.value,
        reason=reason,
        resumable=resumable,
        recommended_action=result.recommended_action,
        input_tokens=state.usage.input_tokens,
        output_tokens=state.usage.output_tokens,
        iterations=result.iterations,
    )
    try:
        save(state, deps, status=status.value, reason=reason)
    except StateError as exc:
        result.reason += f" (and the state could not be saved: {exc})"
    return End(result)
