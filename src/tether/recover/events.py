"""What recovery tells its watchers: one small frozen class per kind of event (as h11's events).

Consumers branch on the type::

    match event:
        case AttemptStarted(rule=rule, level=level):
            ...
        case GaveUp(reason=reason) | NeedsYou(reason=reason):
            ...

For consumers written against the older ``RecoveryEvent(kind, data)`` shape, every event still
has ``kind`` (the string it always had) and ``data`` (the same dict, built from its fields).
:func:`event_from` makes the typed event from such a pair. The kinds, and who emits them:

===================  ====================  ===========================================
kind                 class                 emitted by
===================  ====================  ===========================================
``attempt``          AttemptStarted        the flow, before a rule's steps run
``retry``            RetryScheduled        the flow, before a rule's backoff wait
``rolled_back``      RolledBack            the flow, after a fix that did not fix
``applied``          RuleApplied           the engine, after a rule's steps ran
``progress``         Progressed            the flow, a new failure underneath
``rule_failed``      RuleFailed            the flow, the rule did not fix it
``recovered``        Recovered             the flow, the job passes
``gave_up``          GaveUp                the flow, recovery stops without a pass
``needs_you``        NeedsYou              the flow, a recognise-only rule fired
``explore_skipped``  ExploreSkipped        the explorer session: why it did not run
``explore_cached``   ExploreCached         the explorer session: a rule from this session
``explore_start``    ExploreStarted        the explorer session, before the model runs
``explore``          ExplorerStep          the explorer's loop (its trace event)
``explore_end``      ExploreEnded          the explorer session, after the model ran
``promoted``         Promoted              the explorer session: a rule made permanent
``explore_rejected`` ExploreRejected       the explorer session: a rule dropped
===================  ====================  ===========================================
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

__all__ = [
    "AttemptStarted",
    "EventKind",
    "ExploreCached",
    "ExploreEnded",
    "ExploreRejected",
    "ExploreSkipped",
    "ExploreStarted",
    "ExplorerStep",
    "GaveUp",
    "NeedsYou",
    "Progressed",
    "Promoted",
    "Recovered",
    "RecoveryEvent",
    "RetryScheduled",
    "RolledBack",
    "RuleApplied",
    "RuleFailed",
    "event_from",
]

EventKind = Literal[
    "attempt",
    "retry",
    "rolled_back",
    "applied",
    "progress",
    "rule_failed",
    "recovered",
    "gave_up",
    "needs_you",
    "explore_skipped",
    "explore_cached",
    "explore_start",
    "explore",
    "explore_end",
    "promoted",
    "explore_rejected",
]
"""Every event kind recovery emits (``event.kind``)."""


class RecoveryEvent:
    """The base of every recovery event: ``kind`` (a class constant) and ``data`` (its fields)."""

    __slots__ = ()

    kind: ClassVar[EventKind]

    @property
    def data(self) -> dict[str, Any]:
        """The event's fields as a dict (what ``RecoveryEvent.data`` always held)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.data!r})"


@dataclass(frozen=True, repr=False)
class AttemptStarted(RecoveryEvent):
    """Rule ``rule`` is about to run at ``level`` as attempt ``number`` with ``captures``."""

    kind: ClassVar[EventKind] = "attempt"
    rule: str
    level: int
    number: int
    captures: dict[str, str]


@dataclass(frozen=True, repr=False)
class RetryScheduled(RecoveryEvent):
    """Rule ``rule`` re-runs the job after ``delay_s`` seconds (``attempt`` of ``attempts``)."""

    kind: ClassVar[EventKind] = "retry"
    rule: str
    level: int
    attempt: int
    attempts: int
    delay_s: float


@dataclass(frozen=True, repr=False)
class RolledBack(RecoveryEvent):
    """What rule ``rule`` changed was undone (``undone``: one line per change)."""

    kind: ClassVar[EventKind] = "rolled_back"
    rule: str
    undone: list[str]


@dataclass(frozen=True, repr=False)
class RuleApplied(RecoveryEvent):
    """Rule ``rule``'s steps ran: ``steps`` is ``(action, ok, result or error)`` per step."""

    kind: ClassVar[EventKind] = "applied"
    rule: str
    steps: list[tuple[str, bool, Any]]
    error: str | None


@dataclass(frozen=True, repr=False)
class Progressed(RecoveryEvent):
    """Rule ``rule`` fixed its error at ``level``; a new failure shows underneath."""

    kind: ClassVar[EventKind] = "progress"
    rule: str
    level: int


@dataclass(frozen=True, repr=False)
class RuleFailed(RecoveryEvent):
    """Rule ``rule`` did not fix the failure (``outcome``: ``failure`` or ``action_error``)."""

    kind: ClassVar[EventKind] = "rule_failed"
    rule: str
    outcome: str
    error: str | None


@dataclass(frozen=True, repr=False)
class Recovered(RecoveryEvent):
    """The job passes; ``rule`` (or ``"explorer"``) made the last fix, at ``level``."""

    kind: ClassVar[EventKind] = "recovered"
    rule: str
    level: int


@dataclass(frozen=True, repr=False)
class GaveUp(RecoveryEvent):
    """Recovery stopped without a pass, for ``reason``, after ``attempts`` attempts."""

    kind: ClassVar[EventKind] = "gave_up"
    reason: str
    attempts: int


@dataclass(frozen=True, repr=False)
class NeedsYou(RecoveryEvent):
    """A recognise-only rule fired: ``reason`` says what the user should do."""

    kind: ClassVar[EventKind] = "needs_you"
    reason: str
    attempts: int


@dataclass(frozen=True, repr=False)
class ExploreSkipped(RecoveryEvent):
    """Exploration did not run, for ``reason`` (said once per reason)."""

    kind: ClassVar[EventKind] = "explore_skipped"
    reason: str


@dataclass(frozen=True, repr=False)
class ExploreCached(RecoveryEvent):
    """Rule ``rule``, explored earlier in this session, answers the failure."""

    kind: ClassVar[EventKind] = "explore_cached"
    rule: str


@dataclass(frozen=True, repr=False)
class ExploreStarted(RecoveryEvent):
    """An exploration starts on ``model`` within ``max_tokens`` tokens and ``max_tool_calls``."""

    kind: ClassVar[EventKind] = "explore_start"
    model: str
    escalate: bool
    max_tokens: int | None
    max_tool_calls: int | None


@dataclass(frozen=True, repr=False)
class ExplorerStep(RecoveryEvent):
    """One event of the explorer's governed loop; ``data`` is the loop's event dict itself."""

    kind: ClassVar[EventKind] = "explore"
    detail: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        """The loop's event dict (see :class:`tether.loop.Trace`)."""
        return self.detail


@dataclass(frozen=True, repr=False)
class ExploreEnded(RecoveryEvent):
    """An exploration ended with ``outcome`` after ``tokens`` tokens and ``duration_s`` seconds."""

    kind: ClassVar[EventKind] = "explore_end"
    outcome: str
    reason: str
    tokens: int
    duration_s: float
    tool_calls: int
    action_code: str | None
    rejections: int


@dataclass(frozen=True, repr=False)
class Promoted(RecoveryEvent):
    """Explored rule ``rule`` verified and was written (``files``: the paths written)."""

    kind: ClassVar[EventKind] = "promoted"
    rule: str
    files: list[str]


@dataclass(frozen=True, repr=False)
class ExploreRejected(RecoveryEvent):
    """Explored rule ``rule`` did not verify and was dropped, for ``reason``."""

    kind: ClassVar[EventKind] = "explore_rejected"
    rule: str
    reason: str


_BY_KIND: dict[str, type[RecoveryEvent]] = {
    cls.kind: cls
    for cls in (
        AttemptStarted,
        RetryScheduled,
        RolledBack,
        RuleApplied,
        Progressed,
        RuleFailed,
        Recovered,
        GaveUp,
        NeedsYou,
        ExploreSkipped,
        ExploreCached,
        ExploreStarted,
        ExplorerStep,
        ExploreEnded,
        Promoted,
        ExploreRejected,
    )
}


def event_from(kind: str, data: dict[str, Any]) -> RecoveryEvent:
    """The typed event for ``kind`` with ``data`` as its fields (``explore``: ``data`` whole).

    Raises:
        ValueError: ``kind`` is not an :data:`EventKind`, or ``data`` does not have exactly
            that event's fields.
    """
    cls = _BY_KIND.get(kind)
    if cls is None:
        raise ValueError(f"unknown recovery event kind {kind!r} (known: {', '.join(_BY_KIND)})")
    if cls is ExplorerStep:
        return ExplorerStep(data)
    try:
        return cls(**data)
    except TypeError as exc:
        names = ", ".join(f.name for f in fields(cls))  # type: ignore[arg-type]
        raise ValueError(f"recovery event {kind!r} takes the fields {names}: {exc}") from None
