"""Orchestration: what happens around governed runs (goal runs, automations, memory and inbox,
skills, sub-agents, worktrees).

Every orchestrated run **is** a :class:`tether.Loop`: ceilings, NoProgress, approvals, resume,
traces and ``tether explain`` all apply. This package adds what happens before, between and
after runs, and sits above ``loop/``, ``tools/`` and ``store/`` in the layers; the
``tether agent`` command is a client of this package only.

Names resolve lazily (``import tether.orchestrate`` loads none of its modules).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.orchestrate.child import Allowance, agent_loop
    from tether.orchestrate.delegate import Delegation, DelegationResult
    from tether.orchestrate.subagents import (
        AgentCatalog,
        SubAgent,
        SubAgentError,
        UnknownAgent,
        find_agents,
        load_agent,
    )
    from tether.orchestrate.worktree import Isolation, Worktree, WorktreeError, WorktreeRecord

_LAZY: dict[str, str] = {
    "AgentCatalog": "tether.orchestrate.subagents",
    "Allowance": "tether.orchestrate.child",
    "Delegation": "tether.orchestrate.delegate",
    "DelegationResult": "tether.orchestrate.delegate",
    "Isolation": "tether.orchestrate.worktree",
    "SubAgent": "tether.orchestrate.subagents",
    "SubAgentError": "tether.orchestrate.subagents",
    "UnknownAgent": "tether.orchestrate.subagents",
    "Worktree": "tether.orchestrate.worktree",
    "WorktreeError": "tether.orchestrate.worktree",
    "WorktreeRecord": "tether.orchestrate.worktree",
    "agent_loop": "tether.orchestrate.child",
    "find_agents": "tether.orchestrate.subagents",
    "load_agent": "tether.orchestrate.subagents",
}

__all__ = [
    "AgentCatalog",
    "Allowance",
    "Delegation",
    "DelegationResult",
    "Isolation",
    "SubAgent",
    "SubAgentError",
    "UnknownAgent",
    "Worktree",
    "WorktreeError",
    "WorktreeRecord",
    "agent_loop",
    "find_agents",
    "load_agent",
]


def __getattr__(name: str) -> Any:
    """Import the module defining ``name`` on first use."""
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'tether.orchestrate' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
