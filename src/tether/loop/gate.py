"""The approval gate of a governed loop: ask before gated actions run, pause, settle on resume.

Functions over the :class:`~tether.loop.run_state.RunState` and the run's
:class:`~tether.loop.services.Services` (the part of a run that deals with
:class:`~tether.loop.approval.RequireApproval` policies and approval runners; the
policies and runners themselves live in :mod:`tether.loop.approval`):

- :func:`gate` asks the runner about each gated call of a model turn: approved calls run,
  denied ones end the run or go back to the model, "pending" ones pause the run with a
  token (headless);
- :func:`answer` takes the decision given to ``Loop.resume(approval=...)``;
- :func:`settle`, on resume, takes the decision (that one, or ``tether approve``'s),
  re-observes, and voids the approval if the precondition fingerprint changed.

Normal stops come back as an :class:`~tether.loop.end.End`, never as exceptions.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tether.llm.types import ToolCall, message_from_dict, message_to_dict
from tether.loop.approval import (
    ApprovalError,
    ApprovalRequest,
    ApprovalRunner,
    CLIApproval,
    HeadlessApproval,
    RequireApproval,
    approval_store,
    precondition_fingerprint,
)
from tether.loop.context import take_observation
from tether.loop.end import End, finish
from tether.loop.progress import IterationReport
from tether.loop.result import LoopStatus
from tether.loop.run_state import RunState
from tether.loop.services import Services

__all__ = ["Settled", "answer", "gate", "settle"]

Held = Sequence[tuple[ToolCall, str, RequireApproval | None]]
"""Gated calls with the reason and the policy that gated them (``None``: no longer configured)."""


Settled = End | tuple[IterationReport, dict[str, str]]
"""What :func:`settle` answers: the run's end, or the paused batch to run with its denied calls."""


def _runner(deps: Services) -> ApprovalRunner:
    if deps.approval_runner is None:
        stdin = sys.stdin
        if stdin is not None and not stdin.closed and stdin.isatty():
            deps.approval_runner = CLIApproval()
        elif deps.state_path is not None:
            deps.approval_runner = HeadlessApproval()
        else:
            deps.approval_runner = CLIApproval()  # no terminal and nowhere to pause: it denies
    return deps.approval_runner


def _gated(
    deps: Services, calls: Sequence[ToolCall]
) -> list[tuple[ToolCall, str, RequireApproval]]:
    out = []
    for call in calls:
        for policy in deps.approvals:
            reason = policy.requires(call)
            if reason:
                out.append((call, reason, policy))
                break
    return out


def _fingerprint(state: RunState, gated: Held) -> str:
    parts = (p.fingerprint(c) if p is not None else "" for c, _, p in gated)
    return precondition_fingerprint(state.observation_text, parts)


def _held(
    deps: Services, report: IterationReport, pending: dict[str, Any]
) -> list[tuple[ToolCall, str, RequireApproval | None]]:
    """The paused calls of ``pending`` with their reasons and (if still configured) policies."""
    reasons = dict(zip(pending["gated"], (r["reason"] for r in pending["requests"]), strict=False))
    out: list[tuple[ToolCall, str, RequireApproval | None]] = []
    for call in report.tool_calls:
        if call.id in reasons:
            matched = _gated(deps, [call])
            out.append((call, reasons[call.id], matched[0][2] if matched else None))
    return out


async def gate(state: RunState, deps: Services, report: IterationReport) -> End | dict[str, str]:
    """Ask about the gated calls of ``report``'s batch.

    Returns:
        The denied calls (call id → note for the model), or an :class:`~tether.loop.end.End`
        (a call denied with ``on_deny="stop"``, or the run paused awaiting approval).
    """
    index = report.index
    gated = _gated(deps, report.tool_calls)
    if not gated:
        return {}
    runner = _runner(deps)
    denied: dict[str, str] = {}
    waiting: list[tuple[ToolCall, str, RequireApproval | None]] = []
    for call, reason, policy in gated:
        request = ApprovalRequest.of(call, reason, index)
        deps.emit(
            "approval.requested",
            iteration=index,
            tool=call.name,
            arguments=call.arguments,
            reason=reason,
            runner=type(runner).__name__,
        )
        try:
            verdict = await asyncio.to_thread(runner.decide, request)
            note = str(getattr(runner, "last_note", ""))
        except Exception as exc:  # a runner that fails denies
            verdict, note = False, f"the approval runner raised {type(exc).__name__}: {exc}"
        if verdict is None:
            waiting.append((call, reason, policy))
        elif verdict:
            deps.emit("approval.granted", iteration=index, tool=call.name, note=note)
        else:
            deps.emit("approval.denied", iteration=index, tool=call.name, note=note)
            if policy.on_deny == "stop":
                return finish(
                    state,
                    deps,
                    LoopStatus.APPROVAL_DENIED,
                    f"{call.name} was not approved: {note}",
                )
            denied[call.id] = f"{call.name} was not approved ({note}); do something else"
    if waiting:
        return _pause(state, deps, report, waiting, _fingerprint(state, gated))
    return denied


def _pause(
    state: RunState,
    deps: Services,
    report: IterationReport,
    held: Held,
    fingerprint: str,
    why: str = "",
    store: str | None = None,
) -> End:
    """Park the iteration awaiting a headless decision (state saved, token issued)."""
    index = report.index
    runner = deps.approval_runner
    if not isinstance(runner, HeadlessApproval) or store is not None:
        runner = HeadlessApproval(store=store)
    if deps.state_path is None:
        return finish(
            state,
            deps,
            LoopStatus.AWAITING_APPROVAL,
            "an action needs approval but the run has no state_path to pause in",
        )
    requests = [ApprovalRequest.of(c, r, index) for c, r, _ in held]
    pending = runner.issue(str(deps.state_path), requests)
    pending.update(
        iteration=index,
        fingerprint=fingerprint,
        report=report.to_dict(),
        gated=[c.id for c, _, _ in held],
        messages=[message_to_dict(m) for m in state.messages],
    )
    state.pending_approval = pending
    tools = ", ".join(r.tool for r in requests)
    minutes = (pending["expires_s"] - pending["created_s"]) / 60
    deps.emit(
        "approval.pending",
        iteration=index,
        token=pending["token"],
        tools=tools,
        expires_s=pending["expires_s"],
        store=pending["store"],
    )
    return finish(
        state,
        deps,
        LoopStatus.AWAITING_APPROVAL,
        f"{why}waiting for approval of {tools}: token {pending['token']} (valid {minutes:g} min); "
        f"'tether approve {pending['token']}' or 'tether deny {pending['token']}', then resume from "
        f"{deps.state_path}",
        resumable=True,
    )


async def settle(state: RunState, deps: Services) -> Settled:
    """On resume: use the decision on the paused batch, or keep waiting.

    Returns:
        An :class:`~tether.loop.end.End` (still waiting, expired, denied with a stop, or paused
        again because the world changed), or the paused batch's report with the calls that
        were denied (call id → note), to run now.
    """
    assert state.pending_approval is not None
    pending = state.pending_approval
    token = pending["token"]
    store = approval_store(pending)
    now = getattr(deps.approval_runner, "clock", time.time)()
    try:
        answer = state.approval_answer
        row = store.get_approval(token)
        if answer is None and row is not None and row["status"] in ("approved", "denied"):
            answer = {"approved": row["status"] == "approved", "via": "tether approve/deny"}
        if (answer is None or answer["via"] == "resume") and now > pending["expires_s"]:
            store.set_approval_status(token, "expired", now_s=now)
            state.pending_approval = None
            state.messages = []
            deps.emit("approval.expired", token=token)
            return finish(
                state,
                deps,
                LoopStatus.PENDING_EXPIRED,
                f"approval token {token} expired before a decision; resume to ask again",
                resumable=True,
            )
        if answer is None:
            return finish(
                state,
                deps,
                LoopStatus.AWAITING_APPROVAL,
                f"still waiting for approval: token {token}",
                resumable=True,
            )
        report = IterationReport.from_dict(pending["report"])
        state.messages = [message_from_dict(m) for m in pending["messages"]]
        gated = _held(deps, report, pending)
        void = False
        if answer["approved"]:
            take_observation(deps, state)  # the world may have moved since the request
            void = _fingerprint(state, gated) != pending["fingerprint"]
        store.set_approval_status(
            token, "void" if void else "used", when=("pending", "approved", "denied"), now_s=now
        )
    finally:
        store.close()
    state.use_token(token)
    state.pending_approval = None
    if void:
        deps.emit("approval.void", iteration=report.index, token=token)
        return _pause(
            state,
            deps,
            report,
            gated,
            _fingerprint(state, gated),
            store=pending["store"],
            why="the world changed since the approval was asked for, so it is void; ",
        )
    if not answer["approved"]:
        deps.emit("approval.denied", iteration=report.index, token=token, note=answer["via"])
        if any(p is None or p.on_deny == "stop" for _, _, p in gated):
            return finish(
                state,
                deps,
                LoopStatus.APPROVAL_DENIED,
                f"denied ({answer['via']}): token {token}",
            )
        denied = {c.id: f"{c.name} was not approved; do something else" for c, _, _ in gated}
        return report, denied
    deps.emit("approval.granted", iteration=report.index, token=token, note=answer["via"])
    return report, {}


def answer(state: RunState, approval: Mapping[str, Any] | None) -> None:
    """Take the answer to the run's pending approval (``{"token": ..., "approved": bool}``),
    given on resume; ``None`` gives none.

    Raises:
        ApprovalError: the token is not this run's pending one, or was already used.
        ValueError: ``approval`` lacks ``token`` or ``approved``.
    """
    if approval is None:
        return
    if "token" not in approval or "approved" not in approval:
        raise ValueError('approval must be {"token": ..., "approved": True/False}')
    token = str(approval["token"])
    if token in state.used_tokens:
        raise ApprovalError(f"approval token {token!r} was already used by this run", token)
    pending = state.pending_approval
    if pending is None or pending["token"] != token:
        hint = f"; the pending token is {pending['token']!r}" if pending else "; nothing is pending"
        raise ApprovalError(f"approval token {token!r} is unknown to this run{hint}", token)
    state.approval_answer = {"approved": bool(approval["approved"]), "via": "resume"}
