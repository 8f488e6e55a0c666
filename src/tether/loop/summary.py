"""Summaries of iterations that left the verbatim window: written once, stamped, never redone.

A summarizer turns one past iteration's messages into one line. The line is
computed when the iteration leaves the window, kept in the run's state with the
summarizer's version stamp, and reused on every later prompt and after a
resume — so a resumed run sends exactly the prompts it would have sent. A
resumed run whose summarizer has another stamp stops with
:class:`~tether.loop.state.ArtifactDriftError` unless told to reuse the old lines.

The method is ``summarize``; ``summarise`` (and ``summarise_line``) are deprecated
spellings kept for a release: a summarizer that has only ``summarise`` still works, with a
``DeprecationWarning`` (:func:`summarize_with`).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from tether.llm.types import Message, ToolResultMessage, Usage, UserMessage
from tether.loop.hooks import Summarizer

__all__ = [
    "DeterministicSummarizer",
    "ModelSummarizer",
    "Summarizer",
    "summarise_line",
    "summarize_line",
    "summarize_with",
]


async def summarize_with(
    summarizer: Any, index: int, messages: list[Message]
) -> tuple[str, Usage, float | None]:
    """Ask ``summarizer`` for iteration ``index``'s line: its ``summarize``, or (deprecated,
    with a ``DeprecationWarning``) its ``summarise`` when it has only that."""
    method = getattr(summarizer, "summarize", None)
    if method is None:
        warnings.warn(
            f"{type(summarizer).__name__}.summarise is deprecated: name the method 'summarize'",
            DeprecationWarning,
            stacklevel=2,
        )
        method = summarizer.summarise
    line, usage, cost = await method(index, messages)
    return str(line), usage, cost


class _DeprecatedSpelling:
    """``summarise``, the old spelling of ``summarize``, on the built-in summarizers."""

    async def summarise(
        self, index: int, messages: list[Message]
    ) -> tuple[str, Usage, float | None]:
        """Deprecated: call :meth:`summarize`."""
        warnings.warn("summarise is deprecated: call summarize", DeprecationWarning, stacklevel=2)
        summarize = getattr(self, "summarize")  # noqa: B009  (defined by the subclass)
        return await summarize(index, messages)  # type: ignore[no-any-return]


class DeterministicSummarizer(_DeprecatedSpelling):
    """The default: the iteration's calls and how each ended, and what the model said, in one line.

    Costs no tokens; the same messages always give the same line.
    """

    version = "deterministic-1"

    async def summarize(
        self, index: int, messages: list[Message]
    ) -> tuple[str, Usage, float | None]:
        """See :class:`Summarizer`."""
        return summarize_line(index, messages), Usage(), 0.0


def summarize_line(index: int, messages: list[Message]) -> str:
    """One deterministic line for a past iteration: its calls and how each ended."""
    calls: list[str] = []
    outcomes: dict[str, str] = {}
    text = ""
    for m in messages:
        if isinstance(m, ToolResultMessage):
            outcomes[m.call_id] = "error" if m.is_error else "ok"
    for m in messages:
        for c in getattr(m, "tool_calls", ()):
            args = json.dumps(c.arguments, default=str, sort_keys=True)
            calls.append(f"{c.name}({args[:80]}) -> {outcomes.get(c.id, '?')}")
        if getattr(m, "role", "") == "assistant" and getattr(m, "text", ""):
            text = " ".join(m.text.split())[:120]  # type: ignore[union-attr]
    said = f' said "{text}"' if text else ""
    return f"- iteration {index}: " + ("; ".join(calls) or "no tool call") + said


class ModelSummarizer(_DeprecatedSpelling):
    """Summaries by a (cheaper) model, falling back to the deterministic line on any failure.

    Its tokens count against the loop's ceilings like any other call.

    Args:
        llm: an :class:`~tether.llm.LLM` or a ``"provider/model"`` name.
        max_tokens: output limit of one summary, in tokens.
    """

    def __init__(self, llm: Any, *, max_tokens: int = 120) -> None:
        from tether.llm.client import LLM

        self.llm = llm if isinstance(llm, LLM) else LLM(llm)
        self.max_tokens = max_tokens
        self.version = f"model-1:{self.llm.model}"

    async def summarize(
        self, index: int, messages: list[Message]
    ) -> tuple[str, Usage, float | None]:
        """See :class:`Summarizer`."""
        fallback = summarize_line(index, messages)
        prompt = (  # word for word as before: another wording would write other lines
            "Summarise this step of an agent's work in one line of at most 30 words: what it did, "
            "what came out. Facts only.\n\n" + fallback + "\n" + _tool_text(messages)
        )
        try:
            response = await self.llm.acomplete(
                [UserMessage(prompt)], [], max_tokens=self.max_tokens
            )
        except Exception:  # a summary is never worth ending the run for
            return fallback, Usage(), 0.0
        line = " ".join(response.text.split())[:300]
        return (
            (f"- iteration {index}: {line}" if line else fallback),
            response.usage,
            response.cost_usd,
        )


summarise_line = summarize_line
"""Deprecated spelling of :func:`summarize_line`."""


def _tool_text(messages: list[Message]) -> str:
    parts = [f"{m.name}: {m.content[:400]}" for m in messages if isinstance(m, ToolResultMessage)]
    return "\n".join(parts)[:2000]
