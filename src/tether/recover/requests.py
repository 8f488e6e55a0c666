"""What the recovery flow asks its driver for: one small class per request, with its answer.

The flow (:mod:`tether.recover.flow`) yields these and is sent the answers; the drivers
(:mod:`tether.recover.drive`) answer each with the one :class:`~tether.recover.drive.
RecoveryServices` method of the same name. An answer that raises is thrown into the flow at
its request (only :class:`Setup` catches it: the hook's error ends recovery with a reason).

=================  ====================  =================================================
request            services method       answer
=================  ====================  =================================================
:class:`Candidates`  ``candidates``        ``list[Match]``, best first
:class:`ApplyRule`   ``apply_rule``        :class:`~tether.actions.run.RuleRun`
:class:`RunJob`      ``run_job``           :class:`~tether.recover.model.JobResult`
:class:`Sleep`       ``sleep``             ``None``
:class:`Rollback`    ``rollback``          ``list[str]``, what was undone
:class:`Explore`     ``explore``           :class:`Explored`
:class:`Setup`       ``setup``             what the hook returned (``dict`` or ``None``)
:class:`Teardown`    ``teardown``          ``None``
:class:`Record`      ``record``            ``None``
:class:`Promote`     ``promote``           ``None``
:class:`Reject`      ``reject``            ``str``, the rejection the next exploration sees
:class:`Emit`        ``emit``              ``None``
=================  ====================  =================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tether._types import Context
from tether.actions.run import RuleRun
from tether.recover.events import RecoveryEvent
from tether.recover.model import Attempt, RecoverySettings
from tether.rules.book import Match
from tether.rules.model import Rule

__all__ = [
    "ApplyRule",
    "Candidates",
    "Emit",
    "Explore",
    "Explored",
    "Promote",
    "Record",
    "Reject",
    "Request",
    "Rollback",
    "RunJob",
    "Setup",
    "Sleep",
    "Teardown",
]


@dataclass
class RunJob:
    """Request: run the job again; answer with a :class:`~tether.recover.model.JobResult`."""


@dataclass
class ApplyRule:
    """Request: run ``match.rule``'s steps for ``context``; answer with a :class:`RuleRun`."""

    match: Match
    context: Context


@dataclass
class Rollback:
    """Request: undo what ``run``'s steps changed (the re-run showed they did not fix it);
    answer with the list of what was undone (:meth:`RuleRun.rollback`)."""

    run: RuleRun


@dataclass
class Sleep:
    """Request: wait ``seconds`` (the injected sleep; tests never wait); answer ``None``."""

    seconds: float


@dataclass
class Explore:
    """Request: explore ``context`` with an LLM; answer with an :class:`Explored`.

    Attributes:
        context: the failure no rule fixed.
        level: the deep-recovery level (1-based).
        tried: rules already tried on this failure.
        rejections: why earlier explored rules for this failure were rejected.
        escalate: a previous exploration at this level failed; use the secondary model.
        target: what failed (the function's name or the command line).
        hint: the user's hint for the explorer.
        collection: the collection explored rules join.
        allow_escalation: a give-up may hand over to the secondary model.
    """

    context: Context
    level: int = 1
    tried: list[str] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    escalate: bool = False
    target: str = ""
    hint: str | None = None
    collection: str | None = None
    allow_escalation: bool = False


@dataclass
class Explored:
    """The answer to :class:`Explore`.

    Attributes:
        match: the rule to run (ephemeral or existing) with its captures, or ``None``.
        reason: why there is no rule (not allowed, gave up, a ceiling ...), or where it came from.
        rerun: the explorer fixed the failure directly; re-run the job to verify.
        explored: a model was involved (``False``: exploration was not allowed or not possible,
            so asking again at a deeper level is pointless).
        record: the LLM attempt's record (model, tokens, seconds) for the attempt's observation.
    """

    match: Match | None = None
    reason: str = ""
    rerun: bool = False
    explored: bool = True
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Candidates:
    """Request: the rules matching ``context`` under ``settings``, best first, leaving out
    ``exclude`` (the rules already tried at this level); answer with a ``list[Match]``."""

    context: Context
    settings: RecoverySettings
    exclude: list[str]


@dataclass
class Setup:
    """Request: call the setup ``hook`` with ``(state, number)`` before attempt ``number``;
    answer with what it returned (a new state, or ``None`` to keep ``state``)."""

    hook: Callable[[dict[str, Any], int], dict[str, Any] | None]
    state: dict[str, Any]
    number: int


@dataclass
class Teardown:
    """Request: call the teardown ``hook`` with ``(state, number, success)`` after attempt
    ``number``; answer ``None``. ``state`` holds ``_observation`` and, when recovery ends
    with this attempt, ``_give_up_reason``."""

    hook: Callable[[dict[str, Any], int, bool], None]
    state: dict[str, Any]
    number: int
    success: bool


@dataclass
class Record:
    """Request: persist ``attempt`` of ``rule`` (statistics) and its ``observation`` (the
    observations log); answer ``None``. Must not fail recovery."""

    rule: Rule
    attempt: Attempt
    observation: dict[str, Any]


@dataclass
class Promote:
    """Request: ``rule`` verified (success or progress): make it permanent if it is ephemeral;
    answer ``None``."""

    rule: Rule


@dataclass
class Reject:
    """Request: explored ``rule`` did not verify, for ``reason``: drop it; answer with the
    rejection to show the next exploration."""

    rule: Rule
    reason: str


@dataclass
class Emit:
    """Request: tell the watchers ``event``; answer ``None``. Must not fail recovery."""

    event: RecoveryEvent


Request = (
    RunJob
    | ApplyRule
    | Sleep
    | Explore
    | Rollback
    | Candidates
    | Setup
    | Teardown
    | Record
    | Promote
    | Reject
    | Emit
)
"""What the recovery flow asks its driver for."""
