"""Judging an iteration: ask each policy, keep the first STOP, collect the nudges.

A policy (:class:`~tether.loop.core.Policy`: a callable taking an
:class:`~tether.loop.progress.IterationReport`) answers ``None`` or a
:class:`~tether.loop.progress.PolicyDecision`. A STOP ends the run with the decision's
status, which must be a :class:`~tether.loop.result.LoopStatus`: a policy that declares
(``status``/``statuses``) or returns another raises :class:`UnknownStatus`, a programming
error that is never turned into a result.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tether.loop.progress import IterationReport, PolicyDecision
from tether.loop.result import LoopStatus
from tether.loop.run_state import RunState
from tether.loop.services import Services

__all__ = ["UnknownStatus", "check_declared_statuses", "check_status", "judge", "policy_name"]


class UnknownStatus(TypeError):
    """A policy returned a status that is not a :class:`LoopStatus` (raised, never a result)."""


def judge(state: RunState, deps: Services, report: IterationReport) -> PolicyDecision | None:
    """Ask every policy about ``report`` (recorded first).

    Returns:
        The first STOP decision; else ``None``, after adding the policies' messages (one note)
        to the next prompt.

    Raises:
        UnknownStatus: a STOP with a status the loop does not know.
    """
    state.record_report(report)
    messages: list[str] = []
    for policy in deps.policies:
        decision: PolicyDecision | None = policy(report)
        if decision is None:
            continue
        deps.emit(
            "policy.decision",
            iteration=report.index,
            policy=policy_name(policy),
            stop=decision.stop,
            status=decision.status,
            reason=decision.reason,
        )
        if decision.stop:
            check_status(policy, decision.status)
            return decision  # a STOP is a stop: never turned into a question or a nudge
        if decision.message:
            messages.append(decision.message)
    if messages:
        state.notes.append("\n".join(messages))
    return None


def check_status(policy: Any, value: str) -> None:
    """Raise :class:`UnknownStatus` naming ``policy`` when ``value`` is not a :class:`LoopStatus`."""
    try:
        LoopStatus(value)
    except ValueError:
        known = ", ".join(status.value for status in LoopStatus)
        raise UnknownStatus(
            f"policy {policy_name(policy)} returned status {value!r}, which the loop does not "
            f"know ({known})"
        ) from None


def check_declared_statuses(policies: Iterable[Any]) -> None:
    """Validate the statuses policies declare (a ``status`` or ``statuses`` attribute).

    Raises:
        UnknownStatus: one is not a :class:`LoopStatus`.
    """
    for policy in policies:
        declared = getattr(policy, "statuses", None)
        if declared is None:
            one = getattr(policy, "status", None)
            declared = () if one is None else (one,)
        for value in (
            declared if isinstance(declared, (list, tuple, set, frozenset)) else (declared,)
        ):
            if isinstance(value, str):
                check_status(policy, value)


def policy_name(policy: Any) -> str:
    """A policy's name for traces: its ``__name__``, else its class name."""
    return getattr(policy, "__name__", type(policy).__name__)
