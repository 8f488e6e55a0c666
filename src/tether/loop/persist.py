"""Saving a governed run after its steps, and taking it back on resume.

Functions over the :class:`~tether.loop.run_state.RunState` and the run's
:class:`~tether.loop.services.Services`: :func:`open_state` locks the state file and writes
the first snapshot (a fresh run) or a resume record; :func:`save` appends one journal record
(what changed, what was added: constant cost per step); :func:`restore` puts a loaded
:class:`~tether.loop.state.LoopState` back into a run state; :func:`close_state` releases the
file. The file format is :mod:`tether.loop.state`'s.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from tether.llm.types import Usage, message_from_dict
from tether.loop.ceilings import Ceilings
from tether.loop.progress import IterationReport, MetricSnapshot
from tether.loop.run_state import RunState
from tether.loop.services import Services
from tether.loop.state import (
    STATE_VERSION,
    ArtifactDriftError,
    LoopState,
    SchemaChangedError,
    StateError,
    StateFile,
)

__all__ = [
    "RESUMABLE_END",
    "check_compatible",
    "close_state",
    "limits",
    "load_resumable",
    "open_state",
    "refuse_overwrite",
    "restore",
    "save",
    "schemas",
]

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


def schemas(deps: Services) -> dict[str, str]:
    """A short hash of each tool's definition (description + JSON schema), by tool name."""
    out = {}
    for d in deps.runner.definitions():
        text = json.dumps([d.description, d.parameters], sort_keys=True, default=str)
        out[d.name] = hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
    return out


def limits(deps: Services) -> dict[str, Any]:
    """The run's ceilings, as saved (seconds, tokens, USD, counts) with its verbatim window."""
    return {**deps.ceilings.to_dict(), "verbatim_iterations": deps.verbatim_iterations}


def _progress(state: RunState) -> dict[str, Any]:
    """The evaluation's working values (metric, pending report, notes, streaks), JSON-ready."""
    return {
        "previous_metric": state.previous.to_dict() if state.previous is not None else None,
        "pending_report": state.pending.to_dict() if state.pending is not None else None,
        "notes": state.notes,
        "plan_invalid_streak": state.plan_invalid_streak,
        "last_text": state.last_text[:20_000],
        "tool_calls_made": state.tool_calls_made,
    }


def _policy_states(deps: Services) -> dict[str, Any]:
    """``state()`` of each policy that has ``state``/``restore``, by position in ``policies``."""
    out = {}
    for i, policy in enumerate(deps.policies):
        if callable(getattr(policy, "state", None)) and callable(getattr(policy, "restore", None)):
            out[str(i)] = {"type": type(policy).__name__, "data": policy.state()}
    return out


def restore(state: RunState, deps: Services, saved: LoopState) -> None:
    """Take over a saved run's progress into ``state`` (and its policies' saved states)."""
    state.resumed = True
    state.iteration = saved.iteration
    state.usage = Usage(**saved.usage)
    state.cost_usd = saved.cost_usd
    state.elapsed_before = saved.elapsed_s
    state.summaries = list(saved.summaries)
    state.summarized = saved.summarized
    state.history = [[message_from_dict(m) for m in past] for past in saved.history]
    state.reports = [IterationReport.from_dict(r) for r in saved.reports]
    state.signals = list(saved.signals)
    state.seen = dict.fromkeys(saved.seen)
    progress = saved.progress
    if progress.get("previous_metric"):
        state.previous = MetricSnapshot.from_dict(progress["previous_metric"])
    if progress.get("pending_report"):
        state.pending = IterationReport.from_dict(progress["pending_report"])
    state.notes = list(progress.get("notes", []))
    state.plan_invalid_streak = int(progress.get("plan_invalid_streak", 0))
    state.tool_calls_made = int(progress.get("tool_calls_made", 0))
    state.last_text = str(progress.get("last_text", ""))
    for i, policy in enumerate(deps.policies):
        kept = saved.policies.get(str(i))
        if kept and kept.get("type") == type(policy).__name__ and hasattr(policy, "restore"):
            policy.restore(kept["data"])
    state.pending_approval = saved.pending_approval
    state.used_tokens = list(saved.used_tokens)
    deps.saved = saved


def open_state(state: RunState, deps: Services) -> None:
    """Lock the state file; a fresh run writes its first snapshot, a resumed one a record.

    Raises:
        StateLocked: another process runs this state.
        StateError: the file cannot be written, or holds a run that could still be resumed.
    """
    if deps.state_path is None:
        return
    state_file = StateFile(deps.state_path)
    state_file.lock()
    try:
        if deps.saved is None:
            refuse_overwrite(state_file)
            deps.saved = LoopState(
                goal=deps.goal,
                model=deps.llm.model,
                limits=limits(deps),
                tool_schemas=schemas(deps),
                summarizer=deps.summarizer.version,
                pinned=deps.pinned,
                trace_path=str(deps.trace_path) if deps.trace_path is not None else None,
            )
            state_file.snapshot(deps.saved)
        else:
            # the resumed run's record: ceilings may have been extended, the model changed
            state_file.append(
                deps.saved,
                {"limits": limits(deps), "model": deps.llm.model, "status": "", "reason": ""},
                {},
            )
            if deps.saved.version < STATE_VERSION:  # saved by an older tether: rewrite it
                deps.saved.version = STATE_VERSION
                state_file.snapshot(deps.saved)
    except BaseException:
        state_file.close()
        raise
    deps.state_file = state_file


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


def close_state(deps: Services) -> None:
    """Close the journal and release the state lock (idempotent)."""
    if deps.state_file is not None:
        deps.state_file.close()
        deps.state_file = None


def save(state: RunState, deps: Services, **changes: Any) -> None:
    """Record one step in the journal (what changed, what was added).

    Args:
        changes: fields to set besides the run's progress, e.g. ``status=``, ``reason=``.

    Raises:
        StateError: the journal cannot be written.
    """
    added = state.take_additions()
    if deps.state_path is None or deps.saved is None:
        return
    fields = {
        "iteration": state.iteration,
        "usage": asdict(state.usage),
        "cost_usd": state.cost_usd,
        "elapsed_s": round(state.elapsed(deps.clock()), 6),
        "summarized": state.summarized,
        "progress": _progress(state),
        "policies": _policy_states(deps),
        "pending_approval": state.pending_approval,
    }
    fields.update(changes)
    state_file = deps.state_file or StateFile(deps.state_path)  # after Ctrl-C the file is closed
    state_file.append(deps.saved, fields, added)
    if state_file is not deps.state_file:
        state_file.close()


def load_resumable(
    path: str | os.PathLike[str], extend: Mapping[str, float]
) -> tuple[LoopState, Ceilings]:
    """The run saved at ``path`` and its ceilings with ``extend`` added.

    Raises:
        StateError: no state at ``path``, or the run ended for good; StateCorrupt /
            StateVersionError: it cannot be read.
        ValueError: an unknown ``extend`` key or a negative extension.
    """
    state = StateFile(path).load()
    if state.status and state.status not in RESUMABLE_END:
        raise StateError(
            f"{path}: the run ended {state.status} ({state.reason}); nothing to resume", path
        )
    saved = {f.name: state.limits.get(f.name) for f in fields(Ceilings)}
    ceilings = Ceilings(**{k: v for k, v in saved.items() if v is not None})
    return state, ceilings.extended(extend)


def check_compatible(
    saved: LoopState,
    deps: Services,
    path: str | os.PathLike[str],
    *,
    allow_schema_change: bool = False,
    allow_artifact_drift: bool = False,
) -> None:
    """Refuse to resume ``saved`` with tools or a summarizer that would change its prompts.

    Raises:
        SchemaChangedError: a tool's schema differs from the saved one.
        ArtifactDriftError: the saved summaries come from another summarizer version.
    """
    current = schemas(deps)
    changed = sorted(
        name
        for name in set(saved.tool_schemas) | set(current)
        if saved.tool_schemas.get(name) != current.get(name)
    )
    if changed and not allow_schema_change:
        raise SchemaChangedError(
            f"{path}: the schema of {', '.join(changed)} changed since the state was saved; "
            "the saved conversation used the old one (pass allow_schema_change=True to go on)",
            path,
            changed,
        )
    version = deps.summarizer.version
    if saved.summarizer != version and not allow_artifact_drift:
        raise ArtifactDriftError(
            f"{path}: the saved summaries were written by {saved.summarizer!r}, this loop's "
            f"summarizer is {version!r} (pass allow_artifact_drift=True to reuse them)",
            path,
            saved.summarizer,
            version,
        )
