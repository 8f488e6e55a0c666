"""The data of one recovery: its settings, the failures it sees, its attempts and its outcome.

Plain dataclasses and ``Literal`` types, shared by the flow (:mod:`tether.recover.flow`), its
requests (:mod:`tether.recover.requests`) and the drivers (:mod:`tether.recover.drive`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tether._types import Context

__all__ = [
    "RECOGNISE_ONLY_TAG",
    "Attempt",
    "AttemptOutcome",
    "Failure",
    "JobResult",
    "Outcome",
    "RecoverySettings",
    "StopKind",
]


RECOGNISE_ONLY_TAG = "recognise-only"
"""A rule with this tag recognises a failure tether must not fix (merge-conflict markers):
its action checks the failure and raises with what the user should do; recovery stops there
and reports it (event ``needs_you``) instead of trying other rules."""


@dataclass
class Failure:
    """A failed run of the job: its context, and the user's own error (exception or exit code)."""

    context: Context
    error: BaseException | int | None = None


@dataclass
class JobResult:
    """One run of the job: ``failure`` is ``None`` when it passed, with its return ``value``."""

    value: Any = None
    failure: Failure | None = None


AttemptOutcome = Literal["success", "progress", "failure", "action_error"]
"""How one applied rule ended (see :class:`Attempt`)."""

StopKind = Literal["gave_up", "needs_you"]
"""The event kind a recovery that did not recover ends with."""


@dataclass
class Attempt:
    """One rule applied: where (``level``, ``number``), and how it ended.

    ``outcome`` is ``"success"`` (job passed), ``"progress"`` (a new error
    underneath), ``"failure"`` (same error again) or ``"action_error"``.
    ``duration_s`` is in seconds (the injected clock).
    """

    rule: str
    level: int
    number: int
    outcome: AttemptOutcome
    captures: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0


@dataclass
class Outcome:
    """How recovery ended: ``recovered`` with the job's ``value``, or the ``failure`` to surface."""

    recovered: bool
    value: Any = None
    failure: Failure | None = None
    attempts: list[Attempt] = field(default_factory=list)
    reason: str = ""
    levels: int = 1

    def note(self) -> str:
        """A one-line account for the user's exception notes and the CLI."""
        if not self.attempts:
            return f"tether: no recovery ({self.reason})"
        tried = ", ".join(f"{a.rule} ({a.outcome})" for a in self.attempts)
        return f"tether: tried {tried}; gave up: {self.reason}"


@dataclass
class RecoverySettings:
    """How one recovery runs. Mirrors ``@mark``'s parameters."""

    max_retries: int = 3
    max_depth: int = 3
    rules: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    collection: str | None = "default"
    fallback: bool = True
    setup: Callable[[dict[str, Any], int], dict[str, Any] | None] | None = None
    teardown: Callable[[dict[str, Any], int, bool], None] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    explore: bool = False
    """Explore failures no rule fixes (the engine decides whether a model may be used)."""
    allow_escalation: bool = False
    """A rejected or given-up exploration hands over to the secondary model once."""
    hint: str | None = None
    """Shown to the explorer."""
