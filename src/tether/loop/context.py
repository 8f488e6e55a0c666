"""What the model sees: the prompts, the conversation of the next call, and its size.

Pure functions over the :class:`~tether.loop.run_state.RunState` and the run's
:class:`~tether.loop.services.Services`. The conversation of a call is the system prompt
(goal, pinned facts), one message summarizing the iterations older than the verbatim window,
the last ``verbatim_iterations`` iterations word for word, and the current one; so each
call's size stays bounded however long the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tether.llm.types import Message, SystemMessage, UserMessage
from tether.loop.budget import BudgetReport
from tether.loop.run_state import RunState
from tether.loop.services import Services
from tether.loop.state import KEEP_SUMMARIES

__all__ = [
    "budget_report",
    "conversation",
    "estimate_tokens",
    "system_prompt",
    "take_observation",
    "user_prompt",
]


def estimate_tokens(messages: Sequence[Message | None], tools: Sequence[Any]) -> int:
    """A conservative estimate of a request's input tokens: about 3 characters per token."""
    chars = 0
    for m in messages:
        chars += 16 + len(getattr(m, "text", "") or getattr(m, "content", ""))
        for call in getattr(m, "tool_calls", ()):
            chars += len(call.name) + len(json.dumps(call.arguments, default=str))
    for t in tools:
        chars += len(t.name) + len(t.description) + len(json.dumps(t.parameters))
    return chars // 3 + 1


def system_prompt(deps: Services) -> str:
    """The goal, how the run ends, and the pinned facts."""
    lines = [
        "You are working toward a goal inside a governed loop with hard limits.",
        f"GOAL: {deps.goal}",
        "Act with the tools; each turn, call the tools that move toward the goal.",
        "Do not repeat an action that already failed; try something different.",
    ]
    if deps.exits:
        ends = ", ".join(sorted(deps.exits))
        lines.append(f"The run ends when you call one of: {ends}. Call it when its time comes.")
    elif deps.goal_metric is None:
        lines.append("When the goal is reached, answer with a short summary and no tool call.")
    else:
        lines.append(
            "The goal is checked by a measurement after your actions, not by your own claim."
        )
    if deps.pinned:
        lines.append("FACTS:\n" + "\n".join(f"- {fact}" for fact in deps.pinned))
    return "\n".join(lines)


def user_prompt(deps: Services, state: RunState, index: int, notes: Sequence[str]) -> str:
    """Iteration ``index``'s prompt: the observation, what failed lately, the policies' notes."""
    parts = [f"Iteration {index} of at most {deps.ceilings.max_iterations}. GOAL: {deps.goal}"]
    if state.observation_text:
        parts.append(f"OBSERVATION:\n{_tail(state.observation_text, 12_000)}")
    failed = _failed_approaches(state)
    if failed:
        parts.append("ALREADY TRIED WITHOUT PROGRESS:\n" + "\n".join(f"- {f}" for f in failed))
    parts += notes
    return "\n\n".join(parts)


def _failed_approaches(state: RunState) -> list[str]:
    out: list[str] = []
    for report in state.reports[-5:]:
        if not report.productive:
            for call in report.tool_calls:
                out.append(f"{call.name}({json.dumps(call.arguments, default=str)[:200]})")
    return out[-10:]


def system_message(deps: Services, state: RunState) -> SystemMessage:
    """The session's system message (built once)."""
    if state.system is None:
        state.system = SystemMessage(system_prompt(deps))
    return state.system


def summary_message(state: RunState) -> UserMessage | None:
    """One message with the summary lines of the iterations older than the verbatim window."""
    if not state.summaries:
        return None
    shown = state.summaries[-KEEP_SUMMARIES:]
    dropped = state.summarized - len(shown)
    head = f"({dropped} earlier iterations not shown)\n" if dropped else ""
    return UserMessage("EARLIER ITERATIONS (summary):\n" + head + "\n".join(shown))


def conversation(deps: Services, state: RunState) -> list[Message]:
    """What the next model call sends (see the module docstring)."""
    out: list[Message] = [system_message(deps, state)]
    summary = summary_message(state)
    if summary is not None:
        out.append(summary)
    for past in state.history:
        out.extend(past)
    out.extend(state.messages)
    return out


def take_observation(deps: Services, state: RunState) -> Any:
    """Call ``observe()`` (if any); keeps its text for the prompt and approval fingerprints."""
    if deps.observe is None:
        state.observation_text = ""
        return None
    observation = deps.observe()
    state.observation_text = (
        observation if isinstance(observation, str) else json.dumps(observation, default=str)
    )
    return observation


def budget_report(deps: Services, state: RunState) -> BudgetReport:
    """Where the tokens of the next prompt go, and what the run spent (estimates, in tokens)."""
    system = state.system or SystemMessage(system_prompt(deps))
    summary = summary_message(state)
    verbatim = [m for past in state.history for m in past] + state.messages
    definitions = state.definitions or deps.runner.definitions()
    return BudgetReport(
        pinned=estimate_tokens([system], ()),
        summaries=estimate_tokens([summary], ()) if summary else 0,
        verbatim=estimate_tokens(verbatim, ()) if verbatim else 0,
        tools=estimate_tokens((), definitions),
        spent_input=state.usage.input_tokens,
        spent_output=state.usage.output_tokens,
        token_limit=deps.ceilings.token_limit,
        cost_usd=state.cost_usd,
        cost_limit_usd=deps.ceilings.cost_limit_usd,
    )


def _tail(text: str, limit: int) -> str:
    """The end of ``text`` (where test runners and compilers print failures and exit codes)."""
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters omitted ...]\n{text[-limit:]}"
