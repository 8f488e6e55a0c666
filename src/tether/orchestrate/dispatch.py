"""One run as a named sub-agent, and worktrees that report what they keep to the inbox.

What ``tether agent run --agent NAME`` and ``--worktree`` compose from the sub-agent and
worktree modules: the agent file narrows the run's tools to the intersection of its allow-list
and what the run offers, lowers the ceilings to the file's, and becomes the system prompt;
a worktree kept because it holds work becomes one inbox item, so nobody has to remember it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tether.orchestrate.run import Budget
    from tether.orchestrate.subagents import SubAgent
    from tether.orchestrate.worktree import WorktreeRecord
    from tether.store import Store
    from tether.tools.tool import Tool

__all__ = ["AgentDispatch", "as_agent", "inbox_on_kept"]


@dataclasses.dataclass(frozen=True)
class AgentDispatch:
    """A run narrowed to one sub-agent.

    Attributes:
        tools: the tools the agent may call (never more than the run offered).
        budget: the run's ceilings, each lowered to the agent file's where it sets one.
        pinned: the system-prompt facts the agent adds (its file's body).
        model: the agent file's ``provider/model``, ``None`` to keep the run's.
    """

    tools: list[Tool]
    budget: Budget
    pinned: tuple[str, ...]
    model: str | None


def as_agent(agent: SubAgent, tools: Sequence[Tool], budget: Budget) -> AgentDispatch:
    """Narrow a run offering ``tools`` within ``budget`` to ``agent``.

    Raises:
        SubAgentError: the agent's allow-list names a tool that does not exist (key ``tools``).
    """
    allowed = set(agent.allowed([t.name for t in tools]))
    lowered: dict[str, float | int | None] = {
        "max_iterations": min(budget.max_iterations, agent.max_iterations)
    }
    if agent.token_limit is not None:
        lowered["token_limit"] = min(budget.token_limit, agent.token_limit)
    if agent.cost_limit_usd is not None:
        spent = budget.cost_limit_usd
        lowered["cost_limit_usd"] = (
            agent.cost_limit_usd if spent is None else min(spent, agent.cost_limit_usd)
        )
    if agent.wall_clock_s is not None:
        lowered["wall_clock_s"] = min(budget.wall_clock_s, agent.wall_clock_s)
    return AgentDispatch(
        tools=[t for t in tools if t.name in allowed],
        budget=dataclasses.replace(budget, **lowered),  # type: ignore[arg-type]
        pinned=(f"YOU ARE THE SUB-AGENT {agent.name!r}:\n{agent.system_prompt}",),
        model=agent.model,
    )


def inbox_on_kept(store: Store, *, run_id: str | None = None) -> Callable[[WorktreeRecord], None]:
    """An ``on_kept`` callback for :class:`~tether.orchestrate.worktree.Worktree` that puts one
    inbox item per kept tree (dedupe key ``worktree:<id>``), naming the commands that settle it."""
    from tether.orchestrate.inbox import Inbox

    def on_kept(record: WorktreeRecord) -> None:
        Inbox(store).put(
            f"worktree:{record.id}",
            f"worktree {record.id} kept: {record.reason or 'it holds work'}",
            detail=(
                f"{record.path} on branch {record.branch} (base {record.base_sha[:12]}); "
                f"tether agent worktrees diff {record.id} | merge {record.id} | "
                f"discard {record.id}"
            ),
            run_id=run_id,
        )

    return on_kept
