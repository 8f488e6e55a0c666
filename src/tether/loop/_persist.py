"""Saving a governed loop's state after every step, and taking it back on resume.

Functions over a :class:`~tether.loop.core.Loop`: :func:`open_state` locks the
state file and writes the first snapshot (a fresh run) or a resume record;
:func:`save` appends one journal record per step (what changed, what was
added); :func:`restore` puts a loaded :class:`~tether.loop.state.LoopState`
back into a loop. The file format is :mod:`tether.loop.state`'s.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from tether.llm.types import Usage, message_from_dict
from tether.loop.progress import IterationReport, MetricSnapshot
from tether.loop.state import LoopState, StateError, StateFile

if TYPE_CHECKING:
    from tether.loop.core import Loop

__all__ = ["close_state", "open_state", "restore", "save"]

RESUMABLE_END = {
    "",
    "BUDGET_EXHAUSTED",
    "NO_PROGRESS",
    "AWAITING_APPROVAL",
    "PENDING_EXPIRED",
    "ABORTED",
    "ERROR",
}
"""Statuses a saved run may be resumed from ("" = killed while running)."""


def schemas(loop: Loop) -> dict[str, str]:
    """A short hash of each tool's definition (description + JSON schema), by tool name."""
    out = {}
    for d in loop.runner.definitions():
        text = json.dumps([d.description, d.parameters], sort_keys=True, default=str)
        out[d.name] = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
    return out


def limits(loop: Loop) -> dict[str, Any]:
    """The loop's ceilings, as saved (seconds, tokens, USD, counts)."""
    return {
        "max_iterations": loop.max_iterations,
        "token_limit": loop.token_limit,
        "wall_clock_s": loop.wall_clock_s,
        "cost_limit_usd": loop.cost_limit_usd,
        "max_tokens_per_call": loop.max_tokens_per_call,
        "max_tool_calls": loop.max_tool_calls,
        "verbatim_iterations": loop.verbatim_iterations,
    }


def progress(loop: Loop) -> dict[str, Any]:
    """The evaluation's working values (metric, pending report, notes, streaks), JSON-ready."""
    return {
        "previous_metric": loop._previous.to_dict() if loop._previous is not None else None,
        "pending_report": loop._pending.to_dict() if loop._pending is not None else None,
        "notes": loop._notes,
        "plan_invalid_streak": loop._plan_invalid_streak,
        "last_text": loop._last_text[:20_000],
        "tool_calls_made": loop.tool_calls_made,
    }


def policy_states(loop: Loop) -> dict[str, Any]:
    """``state()`` of each policy that has ``state``/``restore``, by position in ``policies``."""
    out = {}
    for i, policy in enumerate(loop.policies):
        if callable(getattr(policy, "state", None)) and callable(getattr(policy, "restore", None)):
            out[str(i)] = {"type": type(policy).__name__, "data": policy.state()}
    return out


def restore(loop: Loop, state: LoopState) -> None:
    """Take over a saved run's progress (see :meth:`load`)."""
    loop._resumed = True
    loop.iteration = state.iteration
    loop.usage = Usage(**state.usage)
    loop.cost_usd = state.cost_usd
    loop._elapsed_before = state.elapsed_s
    loop.summaries = list(state.summaries)
    loop.summarised = state.summarised
    loop.history = [[message_from_dict(m) for m in past] for past in state.history]
    loop.reports = [IterationReport.from_dict(r) for r in state.reports]
    loop.signals = list(state.signals)
    loop._seen = dict.fromkeys(state.seen)
    progress = state.progress
    if progress.get("previous_metric"):
        loop._previous = MetricSnapshot.from_dict(progress["previous_metric"])
    if progress.get("pending_report"):
        loop._pending = IterationReport.from_dict(progress["pending_report"])
    loop._notes = list(progress.get("notes", []))
    loop._plan_invalid_streak = int(progress.get("plan_invalid_streak", 0))
    loop.tool_calls_made = int(progress.get("tool_calls_made", 0))
    loop._last_text = str(progress.get("last_text", ""))
    for i, policy in enumerate(loop.policies):
        saved = state.policies.get(str(i))
        if saved and saved.get("type") == type(policy).__name__ and hasattr(policy, "restore"):
            policy.restore(saved["data"])
    loop._pending_approval = state.pending_approval
    loop._used_tokens = list(state.used_tokens)
    loop._state = state


def open_state(loop: Loop) -> None:
    """Lock the state file; a fresh run writes its first snapshot."""
    if loop.state_path is None:
        return
    state_file = StateFile(loop.state_path)
    state_file.lock()
    try:
        if loop._state is None:
            refuse_overwrite(state_file)
            loop._state = LoopState(
                goal=loop.goal,
                model=loop.llm.model,
                limits=limits(loop),
                tool_schemas=schemas(loop),
                summariser=loop.summarizer.version,
                pinned=loop.pinned,
                trace_path=str(loop.trace_path) if loop.trace_path is not None else None,
            )
            state_file.snapshot(loop._state)
        else:
            # the resumed run's record: ceilings may have been extended, the model changed
            state_file.append(
                loop._state,
                {"limits": limits(loop), "model": loop.llm.model, "status": "", "reason": ""},
                {},
            )
    except BaseException:
        state_file.close()
        raise
    loop._state_file = state_file


def refuse_overwrite(state_file: StateFile) -> None:
    """Refuse to start a fresh run over a saved run that could still be resumed.

    Raises:
        StateError: ``state_file`` holds a resumable or unfinished run, or cannot be read.
    """
    try:
        old = state_file.load()
    except StateError as exc:
        if not state_file.path.exists():
            return
        raise StateError(
            f"{state_file.path}: exists and cannot be read ({exc}); move it away first",
            state_file.path,
        ) from None
    if old.status in RESUMABLE_END:
        what = (
            "did not finish (killed?)"
            if old.status == ""
            else f"ended {old.status} and can be resumed"
        )
        raise StateError(
            f"{state_file.path}: holds a run that {what}; resume it with Loop.resume(path), "
            "or delete the file to start over",
            state_file.path,
        )


def close_state(loop: Loop) -> None:
    """Close the journal and release the state lock (idempotent)."""
    if loop._state_file is not None:
        loop._state_file.close()
        loop._state_file = None


def save(loop: Loop, **changes: Any) -> None:
    """Record one step in the journal (what changed, what was added)."""
    added, loop._added = loop._added, {name: [] for name in LoopState.APPENDED}
    if loop.state_path is None or loop._state is None:
        return
    fields = {
        "iteration": loop.iteration,
        "usage": asdict(loop.usage),
        "cost_usd": loop.cost_usd,
        "elapsed_s": round(loop.clock() - loop._started, 6),
        "summarised": loop.summarised,
        "progress": progress(loop),
        "policies": policy_states(loop),
        "pending_approval": loop._pending_approval,
    }
    fields.update(changes)
    state_file = loop._state_file or StateFile(loop.state_path)  # after Ctrl-C the file is closed
    state_file.append(loop._state, fields, added)
    if state_file is not loop._state_file:
        state_file.close()
