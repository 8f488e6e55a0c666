"""A sub-agent's run as a child :class:`~tether.loop.Loop`, and the parent's budget seen from it.

:func:`agent_loop` builds the child (``tether agent run --agent NAME`` runs one directly;
:class:`~tether.orchestrate.delegate.Delegation` runs them for a parent): its tools are only
the intersection of the file's allow-list and what the caller offers, its ceilings the lower
of the file's and the caller's, and its instructions (the file's body) are pinned into the
system message, so each request carries them once.

Three narrow adapters stand in for loop API being added elsewhere; switch them over (or
delete the fallbacks) once it lands: :func:`remaining` and :func:`charge` call
``Loop.remaining()`` / ``Loop.charge()`` when the Loop has them, else read and add to its
public counters; :func:`run_child` starts a child inside a parent's tool in a fresh context,
so that the parent's "a loop is running here" guard does not refuse it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tether.orchestrate.subagents import SubAgent, SubAgentError

if TYPE_CHECKING:
    from tether.loop import Loop, LoopResult
    from tether.tools.tool import Tool, ToolRegistry

__all__ = ["Allowance", "agent_loop", "charge", "remaining", "run_child"]


@dataclass(frozen=True)
class Allowance:
    """What a run has left.

    Attributes:
        iterations: iterations left.
        tokens: tokens (input + output) left.
        cost_usd: USD left, ``None`` when the run has no USD ceiling.
        wall_clock_s: seconds left.
    """

    iterations: int
    tokens: int
    cost_usd: float | None
    wall_clock_s: float


def remaining(loop: Loop, *, elapsed_s: float = 0.0) -> Allowance:
    """What ``loop`` has left (adapter: ``loop.remaining()`` when the Loop has it).

    Args:
        elapsed_s: seconds the loop has run, used only by the fallback (which cannot read the
            Loop's start time).
    """
    method = getattr(loop, "remaining", None)
    if callable(method):
        left = method()
        return Allowance(
            int(left.iterations), int(left.tokens), left.cost_usd, float(left.wall_clock_s)
        )
    cost = None
    if loop.cost_limit_usd is not None:
        cost = max(0.0, loop.cost_limit_usd - (loop.cost_usd or 0.0))
    return Allowance(
        iterations=max(0, loop.max_iterations - loop.iteration),
        tokens=max(0, loop.token_limit - loop.usage.total_tokens),
        cost_usd=cost,
        wall_clock_s=max(0.0, loop.wall_clock_s - elapsed_s),
    )


def charge(
    loop: Loop, *, input_tokens: int = 0, output_tokens: int = 0, cost_usd: float = 0.0
) -> None:
    """Add work done elsewhere (a child run) to ``loop``'s usage (adapter: ``loop.charge()``
    when the Loop has it, else its public ``usage`` and ``cost_usd`` counters)."""
    method = getattr(loop, "charge", None)
    if callable(method):
        method(input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost_usd)
        return
    from tether.llm.types import Usage

    loop.usage.add(Usage(input_tokens=input_tokens, output_tokens=output_tokens))
    if loop.cost_usd is not None:
        loop.cost_usd += cost_usd


async def run_child(child: Loop) -> LoopResult:
    """Run ``child`` to its end from inside a parent's tool.

    The parent marks its context "a loop is running" so that a tool cannot re-enter a loop by
    mistake; a sub-agent is a deliberate child, so it runs as a task with a fresh context.
    """
    task = asyncio.get_running_loop().create_task(child.arun(), context=contextvars.Context())
    return await task


def agent_loop(
    agent: SubAgent,
    task: str,
    *,
    tools: Iterable[Tool] | ToolRegistry,
    llm: Any,
    max_iterations: int | None = None,
    token_limit: int | None = None,
    cost_limit_usd: float | None = None,
    wall_clock_s: float | None = None,
    **loop_options: Any,
) -> Loop:
    """A Loop running ``agent`` on ``task`` (``tether agent run --agent NAME`` and children).

    Args:
        agent: the sub-agent.
        task: its goal.
        tools: what the caller offers; the agent gets the intersection with its allow-list.
        llm: the model (a name, an LLM or a scripted model); ``None``: the file's ``model``.
        max_iterations: the caller's ceiling; the lower of it and the file's holds.
        token_limit: the caller's token ceiling; the lower of it and the file's holds.
        cost_limit_usd: the caller's USD ceiling; the lower of it and the file's holds.
        wall_clock_s: the caller's wall-clock ceiling in seconds; the lower one holds.
        loop_options: other :class:`~tether.loop.Loop` keyword arguments (``trace_path``,
            ``state_path``, ``on_event``, ``clock``, ``quiet`` ...).

    Raises:
        SubAgentError: the allow-list names an unknown tool (key ``tools``), or neither
            ``llm`` nor the file names a model (key ``model``).
    """
    from tether.loop import Loop
    from tether.tools.tool import ToolRegistry

    offered = list(tools)
    names = agent.allowed(t.name for t in offered)
    registry = ToolRegistry([t for t in offered if t.name in names])
    limits: dict[str, Any] = {
        "max_iterations": _lowest(agent.max_iterations, max_iterations),
        "token_limit": _lowest(agent.token_limit, token_limit),
        "cost_limit_usd": _lowest(agent.cost_limit_usd, cost_limit_usd),
        "wall_clock_s": _lowest(agent.wall_clock_s, wall_clock_s),
    }
    pinned = list(loop_options.pop("pinned", ()))
    if agent.system_prompt:
        pinned.insert(
            0, f"You are the {agent.name!r} agent. Your instructions:\n{agent.system_prompt}"
        )
    model = llm if llm is not None else agent.model
    if model is None:
        raise SubAgentError("names no model and none was given", file=agent.file, key="model")
    return Loop(
        task,
        tools=registry,
        llm=model,
        pinned=pinned,
        **{k: v for k, v in limits.items() if v is not None},
        **loop_options,
    )


def _lowest(*values: Any) -> Any:
    given = [v for v in values if v is not None]
    return min(given) if given else None
