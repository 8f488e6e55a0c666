"""LLM providers: one call = messages + tool definitions + settings -> text, tool calls, usage.

The provider layer is pydantic-ai-slim, used through its direct model-request
API so that tether owns the conversation loop. Provider SDKs are extras
(``pip install 'tether[llm]'``) imported on first use, never at ``import tether``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._lazy import lazy_exports
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
    UserMessage,
)

if TYPE_CHECKING:
    from tether.llm.client import LLM, RetryPolicy
    from tether.llm.pricing import PriceTable
    from tether.llm.providers import ModelSpec, parse_model

__all__ = [
    "LLM",
    "AssistantMessage",
    "FinishReason",
    "LLMResponse",
    "Message",
    "ModelSpec",
    "PriceTable",
    "RetryPolicy",
    "SystemMessage",
    "ToolCall",
    "ToolDefinition",
    "ToolResultMessage",
    "Usage",
    "UserMessage",
    "parse_model",
]

_LAZY = {
    "LLM": "tether.llm.client",
    "RetryPolicy": "tether.llm.client",
    "PriceTable": "tether.llm.pricing",
    "ModelSpec": "tether.llm.providers",
    "parse_model": "tether.llm.providers",
}


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
