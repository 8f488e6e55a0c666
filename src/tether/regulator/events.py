"""What the regulator hears: one small immutable class per event, built through ``LLMEvent``.

Typical order within a turn (the regulator tolerates any other order, and
events before the first turn)::

    turn_start -> (token ...) -> (tool_call -> tool_result ...) -> turn_complete
               -> cost -> (quality_feedback) -> (user_correction)

Every field is checked when the event is built, so a bad value fails at the
call site with :class:`~tether.regulator.errors.InvalidEventError` naming the
field, and never reaches (or changes) a regulator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from tether.regulator.errors import InvalidEventError, InvalidQualityError

__all__ = [
    "Cost",
    "LLMEvent",
    "QualityFeedback",
    "Token",
    "ToolCall",
    "ToolResult",
    "TurnComplete",
    "TurnStart",
    "UserCorrection",
]


def _str(value: object, field: str, *, allow_none: bool = False, empty: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, str):
        want = "a string or None" if allow_none else "a string"
        raise InvalidEventError(f"expected {want}, got {type(value).__name__}", field=field)
    if not empty and not value:
        raise InvalidEventError("must not be empty", field=field)


def _count(value: object, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEventError(
            f"expected a whole number >= 0, got {type(value).__name__}", field=field
        )
    if value < 0:
        raise InvalidEventError(f"expected a whole number >= 0, got {value}", field=field)


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEventError(f"expected a number, got {type(value).__name__}", field=field)
    return float(value)


def _bool(value: object, field: str) -> None:
    if not isinstance(value, bool):
        raise InvalidEventError(f"expected True or False, got {value!r}", field=field)


class LLMEvent:
    """An event for :meth:`Regulator.on_event`; build one with the constructors below.

    >>> LLMEvent.turn_start("Refactor fetch_user to be async").kind
    'turn_start'

    Each constructor returns a frozen instance of a subclass (``TurnStart`` ...)
    whose ``kind`` names it. :meth:`to_dict` / :meth:`from_dict` give a plain
    dict form (for queues, logs, replay files).
    """

    __slots__ = ()
    kind: ClassVar[str]

    @staticmethod
    def turn_start(user_message: str, *, new_task: bool = False) -> TurnStart:
        """A new turn: the user's message. ``new_task=True`` also starts a new task.

        A new task clears what belongs to the task (costs, quality history,
        tool history, a sticky halt); learned corrections stay.
        """
        return TurnStart(user_message, new_task)

    @staticmethod
    def token(token: str, logprob: float | None, index: int) -> Token:
        """One streamed token; ``logprob`` is its natural-log probability (``<= 0``).

        ``None`` (or ``0.0``, as providers without logprobs send) means unknown.
        ``index`` is the token's 0-based position in the response.
        """
        return Token(token, logprob, index)

    @staticmethod
    def turn_complete(full_response: str) -> TurnComplete:
        """The turn's whole response text (whether or not tokens were streamed)."""
        return TurnComplete(full_response)

    @staticmethod
    def cost(
        tokens_in: int, tokens_out: int, wallclock_ms: int | float, provider: str | None = None
    ) -> Cost:
        """What the turn cost: prompt and output tokens, wall time in milliseconds."""
        return Cost(tokens_in, tokens_out, wallclock_ms, provider)

    @staticmethod
    def quality_feedback(
        quality: float, fragment_spans: list[tuple[int, int]] | None = None
    ) -> QualityFeedback:
        """A quality score in ``[0, 1]`` for the last response (thumbs, an evaluator, a check).

        Raises:
            InvalidQualityError: ``quality`` is outside ``[0, 1]``, NaN or infinite.
        """
        spans = None if fragment_spans is None else tuple(tuple(s) for s in fragment_spans)
        return QualityFeedback(quality, spans)  # type: ignore[arg-type]

    @staticmethod
    def user_correction(correction_message: str, corrects_last: bool = True) -> UserCorrection:
        """The user corrected a response; ``corrects_last`` ties it to the last turn's topic."""
        return UserCorrection(correction_message, corrects_last)

    @staticmethod
    def tool_call(tool_name: str, args_json: str | None = None) -> ToolCall:
        """The agent called ``tool_name`` with JSON-encoded arguments (or none)."""
        return ToolCall(tool_name, args_json)

    @staticmethod
    def tool_result(
        tool_name: str, success: bool, duration_ms: int | float, error_summary: str | None = None
    ) -> ToolResult:
        """The call of ``tool_name`` returned: did it succeed, how long it took (ms)."""
        return ToolResult(tool_name, success, duration_ms, error_summary)

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": ..., field: value ...}``; :meth:`from_dict` reads it back."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = (
                [list(s) for s in value] if f.name == "fragment_spans" and value else value
            )
        return out

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> LLMEvent:
        """Build an event from its dict form (``{"kind": "cost", "tokens_in": 3, ...}``).

        Raises:
            InvalidEventError: not a mapping, an unknown ``kind``, a missing or
                unknown field, or a field of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise InvalidEventError(f"an event is a mapping, got {type(data).__name__}")
        kind = data.get("kind")
        cls = _KINDS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise InvalidEventError(
                f"unknown event type {kind!r}; expected one of {', '.join(sorted(_KINDS))}",
                field="kind",
            )
        names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
        extra = sorted(set(data) - {"kind", *names})
        if extra:
            raise InvalidEventError(f"unknown field(s) for {kind!r}: {', '.join(extra)}")
        args = []
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                args.append(data[f.name])
            elif f.name in _OPTIONAL:
                args.append(_OPTIONAL[f.name])
            else:
                raise InvalidEventError(f"missing for a {kind!r} event", field=f.name)
        if cls is QualityFeedback and args[1] is not None:
            if not isinstance(args[1], list | tuple):
                raise InvalidEventError("expected a list of [start, end]", field="fragment_spans")
            args[1] = tuple(tuple(s) if isinstance(s, list | tuple) else s for s in args[1])
        event: LLMEvent = cls(*args)
        return event


_OPTIONAL: dict[str, Any] = {
    "new_task": False,
    "provider": None,
    "fragment_spans": None,
    "corrects_last": True,
    "args_json": None,
    "error_summary": None,
}


@dataclass(frozen=True, slots=True)
class TurnStart(LLMEvent):
    """A new turn begins (see :meth:`LLMEvent.turn_start`)."""

    kind: ClassVar[str] = "turn_start"
    user_message: str
    new_task: bool = False

    def __post_init__(self) -> None:
        _str(self.user_message, "user_message")
        _bool(self.new_task, "new_task")


@dataclass(frozen=True, slots=True)
class Token(LLMEvent):
    """One streamed token (see :meth:`LLMEvent.token`)."""

    kind: ClassVar[str] = "token"
    # field(): else the inherited constructor LLMEvent.token would be taken as the default
    token: str = field()  # type: ignore[assignment]
    logprob: float | None
    index: int

    def __post_init__(self) -> None:
        _str(self.token, "token")
        _count(self.index, "index")
        if self.logprob is not None:
            lp = _number(self.logprob, "logprob")
            if math.isnan(lp) or lp > 0.0:
                raise InvalidEventError(
                    f"a log-probability is a number <= 0 (or None when unknown), got {lp}",
                    field="logprob",
                )


@dataclass(frozen=True, slots=True)
class TurnComplete(LLMEvent):
    """The full response (see :meth:`LLMEvent.turn_complete`)."""

    kind: ClassVar[str] = "turn_complete"
    full_response: str

    def __post_init__(self) -> None:
        _str(self.full_response, "full_response")


@dataclass(frozen=True, slots=True)
class Cost(LLMEvent):
    """Tokens and wall time of a turn (see :meth:`LLMEvent.cost`)."""

    kind: ClassVar[str] = "cost"
    tokens_in: int
    tokens_out: int
    wallclock_ms: int | float
    provider: str | None = None

    def __post_init__(self) -> None:
        _count(self.tokens_in, "tokens_in")
        _count(self.tokens_out, "tokens_out")
        ms = _number(self.wallclock_ms, "wallclock_ms")
        if not (ms >= 0.0 and math.isfinite(ms)):
            raise InvalidEventError(
                f"expected a finite number >= 0, got {ms}", field="wallclock_ms"
            )
        _str(self.provider, "provider", allow_none=True)


@dataclass(frozen=True, slots=True)
class QualityFeedback(LLMEvent):
    """A quality score in ``[0, 1]`` (see :meth:`LLMEvent.quality_feedback`)."""

    kind: ClassVar[str] = "quality_feedback"
    quality: float
    fragment_spans: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.quality, bool) or not isinstance(self.quality, int | float):
            raise InvalidQualityError(
                f"expected a number in [0, 1], got {type(self.quality).__name__}", field="quality"
            )
        if not 0.0 <= self.quality <= 1.0:  # False for NaN too
            raise InvalidQualityError(
                f"must be a finite number in [0, 1], got {self.quality!r}; clamp or rescale "
                "the evaluator's score before sending it (nothing was recorded)",
                field="quality",
            )
        for span in self.fragment_spans or ():
            if (
                not isinstance(span, tuple)
                or len(span) != 2
                or any(isinstance(x, bool) or not isinstance(x, int) for x in span)
                or not 0 <= span[0] <= span[1]
            ):
                raise InvalidEventError(
                    f"expected (start, end) character offsets with 0 <= start <= end, got {span!r}",
                    field="fragment_spans",
                )


@dataclass(frozen=True, slots=True)
class UserCorrection(LLMEvent):
    """The user corrected a response (see :meth:`LLMEvent.user_correction`)."""

    kind: ClassVar[str] = "user_correction"
    correction_message: str
    corrects_last: bool = True

    def __post_init__(self) -> None:
        _str(self.correction_message, "correction_message")
        _bool(self.corrects_last, "corrects_last")


@dataclass(frozen=True, slots=True)
class ToolCall(LLMEvent):
    """The agent called a tool (see :meth:`LLMEvent.tool_call`)."""

    kind: ClassVar[str] = "tool_call"
    tool_name: str
    args_json: str | None = None

    def __post_init__(self) -> None:
        _str(self.tool_name, "tool_name", empty=False)
        _str(self.args_json, "args_json", allow_none=True)


@dataclass(frozen=True, slots=True)
class ToolResult(LLMEvent):
    """A tool call returned (see :meth:`LLMEvent.tool_result`)."""

    kind: ClassVar[str] = "tool_result"
    tool_name: str
    success: bool
    duration_ms: int | float
    error_summary: str | None = None

    def __post_init__(self) -> None:
        _str(self.tool_name, "tool_name", empty=False)
        _bool(self.success, "success")
        ms = _number(self.duration_ms, "duration_ms")
        if not (ms >= 0.0 and math.isfinite(ms)):
            raise InvalidEventError(f"expected a finite number >= 0, got {ms}", field="duration_ms")
        _str(self.error_summary, "error_summary", allow_none=True)


_KINDS: dict[str, type[LLMEvent]] = {
    cls.kind: cls
    for cls in (
        TurnStart,
        Token,
        TurnComplete,
        Cost,
        QualityFeedback,
        UserCorrection,
        ToolCall,
        ToolResult,
    )
}
