"""The independent evaluator: a second model, no tools to act with, a strict verdict schema.

The evaluator is offered exactly one tool, ``verdict``, whose arguments are the whole answer::

    {"met": true|false, "reason": "...", "impossible": true|false}

and is told to call it. An answer counts only when it is exactly one ``verdict`` call (or, for
models that answer in text, a reply that is *as a whole* one JSON object) whose ``met`` and
``impossible`` are JSON booleans — not ``"false"``, not ``1`` — with a string ``reason`` and no
other keys. Anything else gets one correction request; a second unusable answer is
``EVALUATOR_ERROR``, which counts as **not met**. Words never decide: "NOT satisfied",
"incomplete", ``{"satisfied": "false"}``, a reply holding two ``{…}`` objects and the like can
only ever be not met (the seed's parser called all of them satisfied).

The evaluator judges :class:`Evidence`: the verifier's exit code and output tail, the diff
stat of the workspace, the last tool results, and the worker's final text — labelled as a
*claim*, to be checked against the rest rather than believed. This follows the "LLM as judge
with structured output" pattern (a JSON-schema-constrained tool call, validated strictly).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tether.errors import ProviderError
from tether.llm.client import LLM
from tether.llm.types import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolDefinition,
    ToolResultMessage,
    Usage,
    UserMessage,
)

__all__ = ["VERDICT_TOOL", "Evaluator", "Evidence", "Verdict", "parse_verdict"]

VERDICT_TOOL = ToolDefinition(
    name="verdict",
    description="Give your verdict on the goal condition. Call this exactly once.",
    parameters={
        "type": "object",
        "properties": {
            "met": {
                "type": "boolean",
                "description": "true only if the evidence shows the condition holds",
            },
            "reason": {"type": "string", "description": "why, citing the evidence"},
            "impossible": {
                "type": "boolean",
                "description": "true if the condition can never be met as stated",
            },
        },
        "required": ["met", "reason", "impossible"],
        "additionalProperties": False,
    },
)
"""The one tool the evaluator is offered; its arguments are the verdict."""

_SYSTEM = """You are an independent evaluator of an agent's work. You cannot act; you judge.
Decide whether the GOAL CONDITION holds, from the EVIDENCE only. The worker's final text is a
CLAIM: do not believe it unless the evidence (verifier output, changes, tool results) supports it.
Answer by calling the tool `verdict` exactly once with met (boolean), reason (string) and
impossible (boolean: true only if the condition can never be met as stated)."""

_CORRECTION = (
    "Your answer could not be used: {problem}. Call the tool `verdict` exactly once with "
    '{{"met": <true|false>, "reason": "<text>", "impossible": <true|false>}} (JSON booleans).'
)

_KEYS = {"met", "reason", "impossible"}


@dataclass(frozen=True)
class Evidence:
    """What the evaluator is shown after a round.

    Attributes:
        condition: the goal condition, in words.
        claim: the worker's final text (shown labelled as a claim).
        round_status: how the worker's round ended (the loop's status).
        verifier: the verifier's command, exit code and output tail, when there is one.
        diff_stat: ``git diff --stat``-like summary of the workspace's changes.
        tool_results: the round's last tool results.
        protected_changed: protected paths the round changed.
    """

    condition: str
    claim: str = ""
    round_status: str = ""
    verifier: dict[str, Any] | None = None
    diff_stat: str = ""
    tool_results: tuple[dict[str, Any], ...] = ()
    protected_changed: tuple[str, ...] = ()

    def render(self, limit: int = 12_000) -> str:
        """The evidence as the evaluator's prompt text (each part bounded)."""
        parts = [f"GOAL CONDITION:\n{self.condition}"]
        if self.round_status:
            parts.append(f"WORKER ROUND ENDED: {self.round_status}")
        if self.verifier is not None:
            v = self.verifier
            parts.append(
                f"VERIFIER `{v.get('command')}` exit code {v.get('exit_code')}"
                f"{' (timed out)' if v.get('timed_out') else ''}; output tail:\n{v.get('output', '')[-3000:]}"
            )
        parts.append("WORKSPACE CHANGES (diff stat):\n" + (self.diff_stat[-2000:] or "(none)"))
        if self.protected_changed:
            parts.append("PROTECTED PATHS CHANGED: " + ", ".join(self.protected_changed))
        if self.tool_results:
            lines = [
                f"- {r.get('tool')} [{r.get('status')}]: {str(r.get('content', ''))[:400]}"
                for r in self.tool_results[-6:]
            ]
            parts.append("LAST TOOL RESULTS:\n" + "\n".join(lines))
        parts.append(
            "WORKER'S CLAIM (unverified, check it against the evidence above):\n"
            + (self.claim[-3000:] or "(no final text)")
        )
        return "\n\n".join(parts)[:limit]


@dataclass(frozen=True)
class Verdict:
    """The evaluator's answer.

    Attributes:
        met: whether the condition holds (``False`` whenever ``error`` is set).
        reason: why.
        impossible: the evaluator says the condition can never be met.
        error: why no usable verdict came (``EVALUATOR_ERROR``), else ``""``.
        usage: tokens over the evaluator's calls.
        cost_usd: USD over them (``None`` when unpriced).
        calls: model calls made (1, or 2 after a correction).
    """

    met: bool
    reason: str
    impossible: bool = False
    error: str = ""
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    calls: int = 0


def _check(data: Any) -> tuple[bool, str, bool] | str:
    """``(met, reason, impossible)`` when ``data`` follows the schema exactly, else the problem."""
    if not isinstance(data, dict):
        return "the verdict must be a JSON object"
    extra = sorted(set(data) - _KEYS)
    if extra:
        return f"unexpected key {extra[0]!r}"
    missing = sorted(_KEYS - set(data))
    if missing:
        return f"missing key {missing[0]!r}"
    if type(data["met"]) is not bool:
        return f"'met' must be a JSON boolean, got {data['met']!r}"
    if type(data["impossible"]) is not bool:
        return f"'impossible' must be a JSON boolean, got {data['impossible']!r}"
    if not isinstance(data["reason"], str):
        return "'reason' must be a string"
    return data["met"], data["reason"], data["impossible"]


def parse_verdict(text: str, tool_calls: Any = ()) -> tuple[bool, str, bool] | str:
    """Read one evaluator answer strictly: ``(met, reason, impossible)`` or the problem.

    Exactly one ``verdict`` tool call is used; without tool calls, the whole text must be one
    JSON object of the schema (surrounding whitespace allowed, nothing else: no prose, no
    second object). ``met and impossible`` together is contradictory, hence a problem.
    """
    calls = list(tool_calls)
    if calls:
        verdicts = [c for c in calls if c.name == VERDICT_TOOL.name]
        if len(calls) != 1 or len(verdicts) != 1:
            return "call only the tool `verdict`, exactly once"
        arguments = verdicts[0].arguments
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                return "the verdict's arguments are not JSON"
        found = _check(arguments)
    else:
        try:
            data = json.loads(text.strip())
        except json.JSONDecodeError:
            return "no `verdict` call, and the text is not one JSON object"
        found = _check(data)
    if isinstance(found, tuple) and found[0] and found[2]:
        return "'met' and 'impossible' cannot both be true"
    return found


class Evaluator:
    """A second model judging evidence through the strict ``verdict`` schema.

    Args:
        llm: the evaluator's model (an :class:`~tether.llm.LLM`, a name, or a pydantic-ai /
            scripted model); it is offered no tool but ``verdict``.
        max_tokens: output limit of one call.
    """

    def __init__(self, llm: LLM | str | Any, *, max_tokens: int = 1024) -> None:
        self.llm = llm if isinstance(llm, LLM) else LLM(llm)
        self.max_tokens = max_tokens

    @property
    def model(self) -> str:
        """The evaluator's ``provider/model``."""
        return self.llm.model

    def judge(self, evidence: Evidence, *, max_tokens: int | None = None) -> Verdict:
        """Ask for a verdict on ``evidence``; one correction request, then ``EVALUATOR_ERROR``.

        Args:
            evidence: what the round produced.
            max_tokens: output limit per call (clamped by the caller's remaining budget).

        A provider error is an ``EVALUATOR_ERROR`` verdict too (not met), never an exception.
        """
        limit = max(1, max_tokens if max_tokens is not None else self.max_tokens)
        messages: list[Message] = [SystemMessage(_SYSTEM), UserMessage(evidence.render())]
        usage = Usage()
        cost: float | None = 0.0
        problem = ""
        for attempt in (1, 2):
            try:
                response = self.llm.complete(messages, [VERDICT_TOOL], max_tokens=limit)
            except ProviderError as exc:
                return Verdict(
                    False,
                    "",
                    error=f"evaluator call failed: {exc}",
                    usage=usage,
                    cost_usd=cost,
                    calls=attempt,
                )
            usage.add(response.usage)
            cost = None if cost is None or response.cost_usd is None else cost + response.cost_usd
            found = parse_verdict(response.text, response.tool_calls)
            if isinstance(found, tuple):
                met, reason, impossible = found
                return Verdict(met, reason, impossible, usage=usage, cost_usd=cost, calls=attempt)
            problem = found
            messages.append(AssistantMessage(response.text, tuple(response.tool_calls)))
            correction = _CORRECTION.format(problem=problem)
            if response.tool_calls:
                for call in response.tool_calls:
                    messages.append(ToolResultMessage(call.id, call.name, correction, True))
            else:
                messages.append(UserMessage(correction))
        return Verdict(
            False,
            "",
            error=f"unusable verdict twice: {problem}",
            usage=usage,
            cost_usd=cost,
            calls=2,
        )
