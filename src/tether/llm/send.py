"""One request to a pydantic-ai model through its direct API, streamed or not.

tether owns the loop, so it calls pydantic-ai's ``direct.model_request`` (and
``model_request_stream`` when the caller wants text deltas as they arrive) with
instrumentation off. No retries here: :class:`~tether.llm.client.LLM` is the one layer that
retries, and :class:`Deltas` tells it whether text already reached the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from pydantic_ai.models import Model
    from pydantic_ai.settings import ModelSettings

__all__ = ["Deltas", "send"]


class Deltas:
    """The caller's ``on_delta``, counting what was delivered (a broken stream that already
    delivered text is not retried: the caller would see the text twice).

    Args:
        callback: called with each text delta.
    """

    def __init__(self, callback: Callable[[str], None]) -> None:
        self.callback = callback
        self.delivered = 0
        """Deltas handed to ``callback`` so far."""

    def __call__(self, text: str) -> None:
        self.delivered += 1
        self.callback(text)


async def send(
    model: Model,
    wire: list[Any],
    params: Any,
    settings: dict[str, Any],
    on_delta: Callable[[str], None] | None,
) -> Any:
    """Send ``wire`` (pydantic-ai messages) to ``model`` once; return its ``ModelResponse``.

    Args:
        model: the pydantic-ai model.
        wire: the conversation, as :func:`tether.llm.convert.to_model_messages` made it.
        params: the ``ModelRequestParameters`` (tools).
        settings: ``max_tokens`` (tokens) and optionally ``temperature``.
        on_delta: when given, the request is streamed and each text delta passed to it.

    Raises:
        Exception: whatever the provider layer raised (classified by the caller).
    """
    from pydantic_ai import direct

    options: dict[str, Any] = {
        "model_settings": cast("ModelSettings", settings),
        "model_request_parameters": params,
        "instrument": False,
    }
    if on_delta is None:
        return await direct.model_request(model, wire, **options)
    from pydantic_ai.messages import PartDeltaEvent, PartStartEvent, TextPart, TextPartDelta

    async with direct.model_request_stream(model, wire, **options) as stream:
        async for event in stream:
            if (
                isinstance(event, PartStartEvent)
                and isinstance(event.part, TextPart)
                and event.part.content
            ):
                on_delta(event.part.content)
            elif (
                isinstance(event, PartDeltaEvent)
                and isinstance(event.delta, TextPartDelta)
                and event.delta.content_delta
            ):
                on_delta(event.delta.content_delta)
        return stream.get()
