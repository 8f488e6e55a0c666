"""Orchestration: what happens around governed runs (goal runs, automations, memory and inbox,
skills, sub-agents, worktrees).

Every orchestrated run **is** a :class:`tether.Loop`: ceilings, NoProgress, approvals, resume,
traces and ``tether explain`` all apply. This package adds what happens before, between and
after runs, and sits above ``loop/``, ``tools/`` and ``store/`` in the layers; the
``tether agent`` command is a client of this package only.

Names resolve lazily (``import tether.orchestrate`` loads none of the modules behind them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._lazy import lazy_exports

if TYPE_CHECKING:
    from tether.orchestrate.automations import (
        Automation,
        Budget,
        automation_from_mapping,
        load_automation,
        load_automations,
        save_automation,
    )
    from tether.orchestrate.autorun import loop_runner
    from tether.orchestrate.child import Allowance, agent_loop
    from tether.orchestrate.delegate import Delegation, DelegationResult
    from tether.orchestrate.errors import AutomationConfigError, OrchestrationError
    from tether.orchestrate.inbox import Inbox, InboxItem
    from tether.orchestrate.schedule import Cron, Every
    from tether.orchestrate.scheduler import RunRecord, Scheduler, Slot, SlotRecord, history
    from tether.orchestrate.subagents import (
        AgentCatalog,
        SubAgent,
        SubAgentError,
        UnknownAgent,
        find_agents,
        load_agent,
    )
    from tether.orchestrate.worktree import Isolation, Worktree, WorktreeError, WorktreeRecord

_EXPORTS: dict[str, str] = {
    "agent_loop": "tether.orchestrate.child",
    "AgentCatalog": "tether.orchestrate.subagents",
    "Allowance": "tether.orchestrate.child",
    "Automation": "tether.orchestrate.automations",
    "automation_from_mapping": "tether.orchestrate.automations",
    "AutomationConfigError": "tether.orchestrate.errors",
    "Budget": "tether.orchestrate.automations",
    "Cron": "tether.orchestrate.schedule",
    "Delegation": "tether.orchestrate.delegate",
    "DelegationResult": "tether.orchestrate.delegate",
    "Every": "tether.orchestrate.schedule",
    "find_agents": "tether.orchestrate.subagents",
    "history": "tether.orchestrate.scheduler",
    "Inbox": "tether.orchestrate.inbox",
    "InboxItem": "tether.orchestrate.inbox",
    "Isolation": "tether.orchestrate.worktree",
    "load_agent": "tether.orchestrate.subagents",
    "load_automation": "tether.orchestrate.automations",
    "load_automations": "tether.orchestrate.automations",
    "loop_runner": "tether.orchestrate.autorun",
    "OrchestrationError": "tether.orchestrate.errors",
    "RunRecord": "tether.orchestrate.scheduler",
    "save_automation": "tether.orchestrate.automations",
    "Scheduler": "tether.orchestrate.scheduler",
    "Slot": "tether.orchestrate.scheduler",
    "SlotRecord": "tether.orchestrate.scheduler",
    "SubAgent": "tether.orchestrate.subagents",
    "SubAgentError": "tether.orchestrate.subagents",
    "UnknownAgent": "tether.orchestrate.subagents",
    "Worktree": "tether.orchestrate.worktree",
    "WorktreeError": "tether.orchestrate.worktree",
    "WorktreeRecord": "tether.orchestrate.worktree",
}

__all__ = [
    "AgentCatalog",
    "Allowance",
    "Automation",
    "AutomationConfigError",
    "Budget",
    "Cron",
    "Delegation",
    "DelegationResult",
    "Every",
    "Inbox",
    "InboxItem",
    "Isolation",
    "OrchestrationError",
    "RunRecord",
    "Scheduler",
    "Slot",
    "SlotRecord",
    "SubAgent",
    "SubAgentError",
    "UnknownAgent",
    "Worktree",
    "WorktreeError",
    "WorktreeRecord",
    "agent_loop",
    "automation_from_mapping",
    "find_agents",
    "history",
    "load_agent",
    "load_automation",
    "load_automations",
    "loop_runner",
    "save_automation",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
