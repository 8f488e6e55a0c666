"""Offline, deterministic models for testing rules, explorers and loops.

:class:`ScriptedModel` plays back a script of model turns — text, tool calls,
usage, or a provider error — through pydantic-ai's own ``FunctionModel``, so
everything between tether and the provider library runs for real; only the
network is missing. It records each request it saw for assertions::

    from tether.llm import LLM, UserMessage
    from tether.testing import ScriptedModel, call, reply

    model = ScriptedModel([
        reply(tool_calls=[call("read_file", path="build.sh")], usage=(120, 30)),
        reply("The script is not executable.", usage=(180, 12)),
    ])
    llm = LLM(model)
    first = llm.complete([UserMessage("why did ./build.sh fail?")], tools=...)
    assert first.tool_calls[0].name == "read_file"
    assert model.requests[0].tools == ["read_file", ...]

A turn may also be an exception (e.g. ``rate_limited(retry_after=2)``) to
drive the retry and fallback paths. A turn may be a function
``(request) -> Turn`` when the answer depends on what was sent.

Streaming (``on_delta``) works too; pydantic-ai estimates the usage of streamed
turns, so give exact usage only where the call is not streamed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from tether.llm.types import FinishReason, ToolCall

__all__ = [
    "ScriptedModel",
    "ScriptedRequest",
    "Turn",
    "call",
    "rate_limited",
    "rejected",
    "reply",
    "server_error",
]

_ids = itertools.count(1)


@dataclass(frozen=True)
class Turn:
    """One scripted model turn.

    Attributes:
        text: the answer's text.
        tool_calls: the tool calls it makes (arguments as a dict, or raw text to test bad JSON).
        usage: ``(input_tokens, output_tokens)`` or ``(input, output, cache_read)``.
        finish_reason: ``"stop"``, ``"length"`` (cut off), ``"tool_calls"`` ... (default: inferred).
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: tuple[int, ...] = (10, 10)
    finish_reason: FinishReason | None = None


def reply(
    text: str = "",
    *,
    tool_calls: Iterable[ToolCall] = (),
    usage: tuple[int, ...] = (10, 10),
    finish_reason: FinishReason | None = None,
) -> Turn:
    """A turn answering ``text`` and/or calling tools."""
    return Turn(text, tuple(tool_calls), usage, finish_reason)


def call(name: str, arguments: dict[str, Any] | str | None = None, /, **kwargs: Any) -> ToolCall:
    """A tool call: ``call("read_file", path="x")`` or ``call("t", '{"bad json')``."""
    args: dict[str, Any] | str = kwargs if arguments is None else arguments
    return ToolCall(name, args, f"call_{next(_ids)}")


def _http_error(
    category_name: str | None, status: int, body: Any, retry_after: float | None = None
) -> Exception:
    from pydantic_ai import exceptions as ex

    category = getattr(ex, category_name) if category_name else None
    return ex.ModelHTTPError.for_category(
        category, status_code=status, model_name="scripted", body=body, retry_after=retry_after
    )


def rate_limited(retry_after: float | None = None, *, status: int = 429) -> Exception:
    """The error a provider's rate limit raises (``Retry-After`` in seconds)."""
    return _http_error("ModelRateLimitError", status, {"error": "rate limited"}, retry_after)


def server_error(status: int = 500) -> Exception:
    """The error a provider's 5xx raises (503: unavailable)."""
    name = "ModelUnavailableError" if status == 503 else "ModelServerError"
    return _http_error(name, status, {"error": "server error"})


def rejected(status: int = 400, message: str = "bad request") -> Exception:
    """The error a provider raises for a request it refuses (400, 401, 404 ...)."""
    names = {
        401: "ModelAuthenticationError",
        403: "ModelAuthenticationError",
        404: "ModelNotFoundError",
    }
    return _http_error(names.get(status, "ModelRequestRejectedError"), status, {"error": message})


@dataclass
class ScriptedRequest:
    """What the model was sent in one request.

    Attributes:
        messages: pydantic-ai messages as sent.
        tools: the names of the tools offered.
        tool_schemas: each offered tool's JSON schema, by name.
        max_tokens: the output-token limit of the request.
        temperature: the sampling temperature, if set.
    """

    messages: list[Any]
    tools: list[str]
    tool_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_tokens: int | None = None
    temperature: float | None = None

    @property
    def last_user_text(self) -> str:
        """The text of the last user prompt or tool return in the request."""
        for message in reversed(self.messages):
            for part in reversed(getattr(message, "parts", [])):
                content = getattr(part, "content", None)
                if (
                    getattr(part, "part_kind", "") in ("user-prompt", "tool-return")
                    and content is not None
                ):
                    return content if isinstance(content, str) else json.dumps(content, default=str)
        return ""


Step: TypeAlias = Turn | BaseException | Callable[[ScriptedRequest], "Turn | BaseException"]


class ScriptedModel:
    """A pydantic-ai ``FunctionModel`` that plays back ``script`` turn by turn.

    Args:
        script: turns, exceptions to raise, or functions of the request returning either.
        name: the model name reported in responses: ``scripted/<name>``, or ``name`` itself
            when it has a provider prefix (``"openai/gpt-4.1-mini"``: calls are then priced
            like that model's, for tests of USD budgets).

    Raises:
        AssertionError: at a request after the script ran out (the test asked for more turns
            than it scripted); :class:`~tether.llm.LLM` lets it through unchanged.
    """

    __test__ = False

    def __init__(self, script: Sequence[Step], *, name: str = "scripted") -> None:
        from pydantic_ai.models.function import FunctionModel

        provider, _, model_name = name.partition("/") if "/" in name else ("scripted", "", name)

        class _Scripted(FunctionModel):
            @property
            def system(self) -> str:
                return provider

        self.script = list(script)
        self.requests: list[ScriptedRequest] = []
        self.name = f"{provider}/{model_name}"
        """``provider/model`` as :class:`~tether.llm.LLM` reports it."""
        self.model: FunctionModel = _Scripted(
            self._respond, stream_function=self._stream, model_name=model_name
        )

    @property
    def remaining(self) -> int:
        """Turns not played yet."""
        return len(self.script) - len(self.requests)

    def _next(self, messages: list[Any], info: Any) -> Turn:
        settings = info.model_settings or {}
        request = ScriptedRequest(
            messages=list(messages),
            tools=[t.name for t in info.function_tools],
            tool_schemas={t.name: t.parameters_json_schema for t in info.function_tools},
            max_tokens=settings.get("max_tokens"),
            temperature=settings.get("temperature"),
        )
        index = len(self.requests)
        self.requests.append(request)
        if index >= len(self.script):
            raise AssertionError(
                f"the scripted model ran out of turns ({len(self.script)} scripted)"
            )
        step = self.script[index]
        if callable(step) and not isinstance(step, (Turn, BaseException)):
            step = step(request)
        if isinstance(step, BaseException):
            raise step
        return step

    def _respond(self, messages: list[Any], info: Any) -> Any:
        from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
        from pydantic_ai.usage import RequestUsage

        turn = self._next(messages, info)
        parts: list[Any] = [TextPart(turn.text)] if turn.text else []
        parts += [
            ToolCallPart(c.name, c.arguments, c.id or f"call_{next(_ids)}") for c in turn.tool_calls
        ]
        numbers = (*turn.usage, 0, 0)[:3]
        usage = RequestUsage(
            input_tokens=numbers[0], output_tokens=numbers[1], cache_read_tokens=numbers[2]
        )
        finish = turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop")
        wire_finish = {"tool_calls": "tool_call"}.get(finish, finish)
        return ModelResponse(parts=parts, usage=usage, finish_reason=wire_finish)  # type: ignore[arg-type]

    async def _stream(self, messages: list[Any], info: Any) -> AsyncIterator[Any]:
        from pydantic_ai.models.function import DeltaToolCall

        turn = self._next(messages, info)
        if turn.tool_calls:
            for index, c in enumerate(turn.tool_calls):
                args = c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments)
                yield {index: DeltaToolCall(name=c.name, json_args=args, tool_call_id=c.id)}
            return
        words = turn.text.split(" ")
        for i, word in enumerate(words):
            yield word if i == len(words) - 1 else word + " "
