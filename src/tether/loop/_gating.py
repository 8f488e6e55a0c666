"""The approval gate of a governed loop: ask before gated actions run, pause, settle on resume.

Functions over a :class:`~tether.loop.core.Loop` (its part that deals with
:class:`~tether.loop.approval.RequireApproval` policies and approval runners; the
policies and runners themselves live in :mod:`tether.loop.approval`):

- :func:`gate` asks the runner about each gated call of a model turn: approved calls run,
  denied ones end the run or go back to the model, "pending" ones :func:`pause` the run
  with a token (headless);
- :func:`settle`, on resume, takes the decision (from ``Loop.resume(approval=...)`` or
  ``tether approve``), re-observes, and voids the approval if the precondition
  fingerprint changed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tether.llm.types import ToolCall, message_from_dict, message_to_dict
from tether.loop.approval import (
    ApprovalRequest,
    ApprovalRunner,
    CLIApproval,
    HeadlessApproval,
    RequireApproval,
    approval_store,
    precondition_fingerprint,
)
from tether.loop.progress import IterationReport
from tether.loop.result import LoopResult, LoopStatus

if TYPE_CHECKING:
    from tether.loop.core import Loop

__all__ = ["gate", "settle"]

Held = Sequence[tuple[ToolCall, str, RequireApproval | None]]
"""Gated calls with the reason and the policy that gated them (``None``: no longer configured)."""


def _runner(loop: Loop) -> ApprovalRunner:
    if loop.approval_runner is None:
        stdin = sys.stdin
        if stdin is not None and not stdin.closed and stdin.isatty():
            loop.approval_runner = CLIApproval()
        elif loop.state_path is not None:
            loop.approval_runner = HeadlessApproval()
        else:
            loop.approval_runner = CLIApproval()  # no terminal and nowhere to pause: it denies
    return loop.approval_runner


def _gated(loop: Loop, calls: Sequence[ToolCall]) -> list[tuple[ToolCall, str, RequireApproval]]:
    out = []
    for call in calls:
        for policy in loop._approvals:
            reason = policy.requires(call)
            if reason:
                out.append((call, reason, policy))
                break
    return out


def _fingerprint(loop: Loop, gated: Held) -> str:
    parts = (p.fingerprint(c) if p is not None else "" for c, _, p in gated)
    return precondition_fingerprint(loop._observation_text, parts)


def _held(
    loop: Loop, report: IterationReport, pending: dict[str, Any]
) -> list[tuple[ToolCall, str, RequireApproval | None]]:
    """The paused calls of ``pending`` with their reasons and (if still configured) policies."""
    reasons = dict(zip(pending["gated"], (r["reason"] for r in pending["requests"]), strict=False))
    out: list[tuple[ToolCall, str, RequireApproval | None]] = []
    for call in report.tool_calls:
        if call.id in reasons:
            matched = _gated(loop, [call])
            out.append((call, reasons[call.id], matched[0][2] if matched else None))
    return out


async def gate(loop: Loop, index: int, report: IterationReport) -> LoopResult | dict[str, str]:
    """Ask about gated calls; returns the denied ones (call id → note), or a result that ends
    the run (denied with ``on_deny="stop"``, or paused awaiting approval)."""
    assert loop.trace is not None
    gated = _gated(loop, report.tool_calls)
    if not gated:
        return {}
    runner = _runner(loop)
    denied: dict[str, str] = {}
    waiting: list[tuple[ToolCall, str, RequireApproval | None]] = []
    for call, reason, policy in gated:
        request = ApprovalRequest.of(call, reason, index)
        loop.trace.emit(
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
            loop.trace.emit("approval.granted", iteration=index, tool=call.name, note=note)
        else:
            loop.trace.emit("approval.denied", iteration=index, tool=call.name, note=note)
            if policy.on_deny == "stop":
                return loop._finish(
                    LoopStatus.APPROVAL_DENIED,
                    f"{call.name} was not approved: {note}",
                    text=loop._last_text,
                )
            denied[call.id] = f"{call.name} was not approved ({note}); do something else"
    if waiting:
        return _pause(loop, index, report, waiting, _fingerprint(loop, gated))
    return denied


def _pause(
    loop: Loop,
    index: int,
    report: IterationReport,
    held: Held,
    fingerprint: str,
    why: str = "",
    store: str | None = None,
) -> LoopResult:
    """Park the iteration awaiting a headless decision (state saved, token issued)."""
    assert loop.trace is not None
    runner = loop.approval_runner
    if not isinstance(runner, HeadlessApproval) or store is not None:
        runner = HeadlessApproval(store=store)
    if loop.state_path is None:
        return loop._finish(
            LoopStatus.AWAITING_APPROVAL,
            "an action needs approval but the run has no state_path to pause in",
            text=loop._last_text,
        )
    requests = [ApprovalRequest.of(c, r, index) for c, r, _ in held]
    pending = runner.issue(str(loop.state_path), requests)
    pending.update(
        iteration=index,
        fingerprint=fingerprint,
        report=report.to_dict(),
        gated=[c.id for c, _, _ in held],
        messages=[message_to_dict(m) for m in loop.messages],
    )
    loop._pending_approval = pending
    tools = ", ".join(r.tool for r in requests)
    minutes = (pending["expires_s"] - pending["created_s"]) / 60
    loop.trace.emit(
        "approval.pending",
        iteration=index,
        token=pending["token"],
        tools=tools,
        expires_s=pending["expires_s"],
        store=pending["store"],
    )
    return loop._finish(
        LoopStatus.AWAITING_APPROVAL,
        f"{why}waiting for approval of {tools}: token {pending['token']} (valid {minutes:g} min); "
        f"'tether approve {pending['token']}' or 'tether deny {pending['token']}', then resume from "
        f"{loop.state_path}",
        resumable=True,
        text=loop._last_text,
    )


async def settle(loop: Loop) -> LoopResult | None:
    """On resume: use the decision on the paused batch, or keep waiting."""
    assert loop.trace is not None and loop._pending_approval is not None
    pending = loop._pending_approval
    token = pending["token"]
    store = approval_store(pending)
    now = getattr(loop.approval_runner, "clock", time.time)()
    try:
        answer = loop._approval_answer
        row = store.get_approval(token)
        if answer is None and row is not None and row["status"] in ("approved", "denied"):
            answer = {"approved": row["status"] == "approved", "via": "tether approve/deny"}
        if (answer is None or answer["via"] == "resume") and now > pending["expires_s"]:
            store.set_approval_status(token, "expired", now_s=now)
            loop._pending_approval = None
            loop.messages = []
            loop.trace.emit("approval.expired", token=token)
            return loop._finish(
                LoopStatus.PENDING_EXPIRED,
                f"approval token {token} expired before a decision; resume to ask again",
                resumable=True,
                text=loop._last_text,
            )
        if answer is None:
            return loop._finish(
                LoopStatus.AWAITING_APPROVAL,
                f"still waiting for approval: token {token}",
                resumable=True,
                text=loop._last_text,
            )
        report = IterationReport.from_dict(pending["report"])
        loop.messages = [message_from_dict(m) for m in pending["messages"]]
        gated = _held(loop, report, pending)
        void = False
        if answer["approved"]:
            loop._take_observation()  # the world may have moved since the request
            void = _fingerprint(loop, gated) != pending["fingerprint"]
        store.set_approval_status(
            token, "void" if void else "used", when=("pending", "approved", "denied"), now_s=now
        )
    finally:
        store.close()
    loop._used_tokens.append(token)
    loop._added["used_tokens"].append(token)
    loop._pending_approval = None
    if void:
        loop.trace.emit("approval.void", iteration=report.index, token=token)
        return _pause(
            loop,
            report.index,
            report,
            gated,
            _fingerprint(loop, gated),
            store=pending["store"],
            why="the world changed since the approval was asked for, so it is void; ",
        )
    if not answer["approved"]:
        loop.trace.emit("approval.denied", iteration=report.index, token=token, note=answer["via"])
        if any(p is None or p.on_deny == "stop" for _, _, p in gated):
            return loop._finish(
                LoopStatus.APPROVAL_DENIED,
                f"denied ({answer['via']}): token {token}",
                text=loop._last_text,
            )
        denied = {c.id: f"{c.name} was not approved; do something else" for c, _, _ in gated}
        return await loop._act_and_end(report, denied)
    loop.trace.emit("approval.granted", iteration=report.index, token=token, note=answer["via"])
    return await loop._act_and_end(report, {})
