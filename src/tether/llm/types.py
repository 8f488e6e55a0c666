"""The shapes of one model call, independent of any provider SDK.

tether owns the conversation: a list of :data:`Message` values (system and
user text, the assistant's turns with their tool calls, and tool results) goes
in; an :class:`LLMResponse` (text, tool calls, finish reason, usage) comes
out. These are plain dataclasses so that a loop's state can be saved as JSON
and resumed without any provider library installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

__all__ = [
    "AssistantMessage",
    "FinishReason",
    "LLMResponse",
    "Message",
    "SystemMessage",
    "ToolCall",
    "ToolDefinition",
    "ToolResultMessage",
    "Usage",
    "UserMessage",
    "message_from_dict",
    "message_to_dict",
]

FinishReason: TypeAlias = Literal[
    "stop", "length", "tool_calls", "content_filter", "error", "unknown"
]
"""Why the model stopped: a natural end, the output-token limit, to call tools, a filter."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the model asked for.

    Attributes:
        name: the tool's name as the model spelled it (it may not exist).
        arguments: the arguments, a JSON object; a string when the model sent text
            that is not valid JSON (the tool runner reports that back to the model).
        id: the provider's call id, echoed in the matching tool result.
    """

    name: str
    arguments: dict[str, Any] | str
    id: str = ""


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A tool as the model sees it: name, description, JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class Usage:
    """Tokens spent, added up over calls.

    Attributes:
        input_tokens: prompt tokens, cached ones included.
        output_tokens: generated tokens.
        cache_read_tokens: prompt tokens served from the provider's cache.
        cache_write_tokens: prompt tokens written to the provider's cache.
        requests: model requests sent (retries included).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def add(self, other: Usage) -> None:
        """Add ``other`` into this one, in place."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.requests += other.requests


@dataclass(frozen=True, slots=True)
class SystemMessage:
    """Instructions for the model."""

    text: str
    role: Literal["system"] = "system"


@dataclass(frozen=True, slots=True)
class UserMessage:
    """A user's (or the loop's) text."""

    text: str
    role: Literal["user"] = "user"


@dataclass(frozen=True, slots=True)
class AssistantMessage:
    """A model turn: its text and the tool calls it made."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    role: Literal["assistant"] = "assistant"


@dataclass(frozen=True, slots=True)
class ToolResultMessage:
    """The answer to one tool call.

    Attributes:
        call_id: the :attr:`ToolCall.id` it answers.
        name: the tool's name.
        content: what the model reads (text or JSON text).
        is_error: whether the call failed (invalid arguments, unknown tool, raised, timed out);
            the model is asked to correct itself.
    """

    call_id: str
    name: str
    content: str
    is_error: bool = False
    role: Literal["tool"] = "tool"


Message: TypeAlias = SystemMessage | UserMessage | AssistantMessage | ToolResultMessage
"""One entry of a conversation."""


@dataclass(slots=True)
class LLMResponse:
    """The outcome of one model call.

    Attributes:
        text: the text parts joined.
        tool_calls: the tool calls, in the order the model made them.
        finish_reason: why it stopped (``"length"``: cut off by the output limit).
        usage: tokens for this call (all attempts that reached the provider).
        model: ``provider/model`` of the model that answered (the secondary after a fallback).
        cost_usd: the price of ``usage`` from the price table, or ``None`` when unknown.
        attempts: requests sent, retries and fallbacks included.
    """

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: FinishReason = "stop"
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    cost_usd: float | None = None
    attempts: int = 1

    def message(self) -> AssistantMessage:
        """This response as the assistant turn to append to the conversation."""
        return AssistantMessage(self.text, tuple(self.tool_calls))


def message_to_dict(message: Message) -> dict[str, Any]:
    """A JSON-ready dict of ``message`` (for saved loop state)."""
    if isinstance(message, AssistantMessage):
        calls = [{"name": c.name, "arguments": c.arguments, "id": c.id} for c in message.tool_calls]
        return {"role": "assistant", "text": message.text, "tool_calls": calls}
    if isinstance(message, ToolResultMessage):
        return {
            "role": "tool",
            "call_id": message.call_id,
            "name": message.name,
            "content": message.content,
            "is_error": message.is_error,
        }
    return {"role": message.role, "text": message.text}


def message_from_dict(data: dict[str, Any]) -> Message:
    """The inverse of :func:`message_to_dict`.

    Raises:
        ValueError: an unknown role or a missing field.
    """
    role = data.get("role")
    try:
        if role == "system":
            return SystemMessage(str(data["text"]))
        if role == "user":
            return UserMessage(str(data["text"]))
        if role == "assistant":
            calls = tuple(
                ToolCall(c["name"], c["arguments"], c.get("id", ""))
                for c in data.get("tool_calls", [])
            )
            return AssistantMessage(str(data.get("text", "")), calls)
        if role == "tool":
            return ToolResultMessage(
                str(data["call_id"]),
                str(data["name"]),
                str(data["content"]),
                bool(data.get("is_error")),
            )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"message with role {role!r}: missing or bad field {exc}") from None
    raise ValueError(f"unknown message role {role!r}")
