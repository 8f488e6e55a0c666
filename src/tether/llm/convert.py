"""tether's messages to pydantic-ai's, and pydantic-ai's responses back.

Consecutive system, user and tool-result messages go out as one
``ModelRequest``; each assistant turn is a ``ModelResponse``. Tool-call
arguments that are not valid JSON are kept as text, so the tool runner can
tell the model exactly what was wrong instead of the call being dropped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tether.llm.types import (
    AssistantMessage,
    FinishReason,
    LLMResponse,
    Message,
    SystemMessage,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    Usage,
)

if TYPE_CHECKING:
    from pydantic_ai.messages import ModelMessage, ModelResponse
    from pydantic_ai.models import ModelRequestParameters

__all__ = ["request_parameters", "to_model_messages", "to_response"]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}


def to_model_messages(messages: Sequence[Message]) -> list[ModelMessage]:
    """Convert a conversation to pydantic-ai messages."""
    from pydantic_ai.messages import (
        ModelRequest,
        ModelRequestPart,
        ModelResponse,
        ModelResponsePart,
        SystemPromptPart,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
        UserPromptPart,
    )

    out: list[ModelMessage] = []
    pending: list[ModelRequestPart] = []
    for message in messages:
        if isinstance(message, AssistantMessage):
            if pending:
                out.append(ModelRequest(parts=pending))
                pending = []
            parts: list[ModelResponsePart] = []
            if message.text:
                parts.append(TextPart(message.text))
            for call in message.tool_calls:
                parts.append(
                    ToolCallPart(
                        call.name, call.arguments, call.id or f"call_{len(out)}_{len(parts)}"
                    )
                )
            out.append(ModelResponse(parts=parts))
        elif isinstance(message, SystemMessage):
            pending.append(SystemPromptPart(message.text))
        elif isinstance(message, ToolResultMessage):
            pending.append(
                ToolReturnPart(
                    message.name,
                    message.content,
                    message.call_id,
                    outcome="failed" if message.is_error else "success",
                )
            )
        else:
            pending.append(UserPromptPart(message.text))
    if pending:
        out.append(ModelRequest(parts=pending))
    return out


def request_parameters(tools: Sequence[ToolDefinition]) -> ModelRequestParameters:
    """The request parameters declaring ``tools`` (text answers always allowed)."""
    from pydantic_ai.models import ModelRequestParameters
    from pydantic_ai.tools import ToolDefinition as PaiToolDefinition

    defs = [
        PaiToolDefinition(
            name=t.name, description=t.description, parameters_json_schema=t.parameters
        )
        for t in tools
    ]
    return ModelRequestParameters(function_tools=defs, allow_text_output=True)


def _arguments(raw: Any) -> dict[str, Any] | str:
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return str(raw)
    return value if isinstance(value, dict) else str(raw)


def to_response(response: ModelResponse, model: str) -> LLMResponse:
    """Convert a pydantic-ai response (one attempt) to an :class:`LLMResponse`."""
    from pydantic_ai.messages import TextPart, ToolCallPart

    texts: list[str] = []
    calls: list[ToolCall] = []
    for part in response.parts:
        if isinstance(part, TextPart):
            texts.append(part.content)
        elif isinstance(part, ToolCallPart):
            calls.append(ToolCall(part.tool_name, _arguments(part.args), part.tool_call_id))
    u = response.usage
    usage = Usage(
        input_tokens=u.input_tokens or 0,
        output_tokens=u.output_tokens or 0,
        cache_read_tokens=u.cache_read_tokens or 0,
        cache_write_tokens=u.cache_write_tokens or 0,
        requests=1,
    )
    reason = _FINISH.get(str(response.finish_reason), "unknown") if response.finish_reason else None
    if reason is None or (reason == "stop" and calls):
        # Gemini ends a turn that calls tools with STOP; the loop needs to know it asked for tools.
        reason = "tool_calls" if calls else "stop"
    return LLMResponse("".join(texts), calls, reason, usage, model)
