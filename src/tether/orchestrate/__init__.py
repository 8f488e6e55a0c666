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
    from tether.orchestrate.autogoal import automation_runner, goal_runner
    from tether.orchestrate.automations import (
        Automation,
        AutomationBudget,
        automation_from_mapping,
        load_automation,
        load_automations,
        save_automation,
    )
    from tether.orchestrate.autorun import loop_runner
    from tether.orchestrate.child import Allowance, agent_loop
    from tether.orchestrate.delegate import Delegation, DelegationResult
    from tether.orchestrate.errors import AutomationConfigError, OrchestrationError
    from tether.orchestrate.evaluator import Evaluator, Evidence, Verdict
    from tether.orchestrate.goal import Goal, GoalError, GoalResult
    from tether.orchestrate.inbox import Inbox, InboxItem
    from tether.orchestrate.instructions import Instructions, read_instructions
    from tether.orchestrate.memory import Memory, TaskRecord, task_key
    from tether.orchestrate.project import Project, ProjectConfigError
    from tether.orchestrate.run import AgentPlan, AgentResult, AgentRun, Budget, run_agent
    from tether.orchestrate.schedule import Cron, Every
    from tether.orchestrate.scheduler import RunRecord, Scheduler, Slot, SlotRecord, history
    from tether.orchestrate.skills import Skill, SkillError, SkillProblem, Skills
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
    "AgentPlan": "tether.orchestrate.run",
    "AgentResult": "tether.orchestrate.run",
    "AgentRun": "tether.orchestrate.run",
    "Allowance": "tether.orchestrate.child",
    "Automation": "tether.orchestrate.automations",
    "automation_runner": "tether.orchestrate.autogoal",
    "goal_runner": "tether.orchestrate.autogoal",
    "automation_from_mapping": "tether.orchestrate.automations",
    "AutomationBudget": "tether.orchestrate.automations",
    "AutomationConfigError": "tether.orchestrate.errors",
    "Budget": "tether.orchestrate.run",
    "Cron": "tether.orchestrate.schedule",
    "Delegation": "tether.orchestrate.delegate",
    "DelegationResult": "tether.orchestrate.delegate",
    "Evaluator": "tether.orchestrate.evaluator",
    "Every": "tether.orchestrate.schedule",
    "Evidence": "tether.orchestrate.evaluator",
    "find_agents": "tether.orchestrate.subagents",
    "Goal": "tether.orchestrate.goal",
    "GoalError": "tether.orchestrate.goal",
    "GoalResult": "tether.orchestrate.goal",
    "history": "tether.orchestrate.scheduler",
    "Inbox": "tether.orchestrate.inbox",
    "InboxItem": "tether.orchestrate.inbox",
    "Instructions": "tether.orchestrate.instructions",
    "Isolation": "tether.orchestrate.worktree",
    "load_agent": "tether.orchestrate.subagents",
    "load_automation": "tether.orchestrate.automations",
    "load_automations": "tether.orchestrate.automations",
    "loop_runner": "tether.orchestrate.autorun",
    "Memory": "tether.orchestrate.memory",
    "OrchestrationError": "tether.orchestrate.errors",
    "Project": "tether.orchestrate.project",
    "ProjectConfigError": "tether.orchestrate.project",
    "read_instructions": "tether.orchestrate.instructions",
    "run_agent": "tether.orchestrate.run",
    "RunRecord": "tether.orchestrate.scheduler",
    "save_automation": "tether.orchestrate.automations",
    "Scheduler": "tether.orchestrate.scheduler",
    "Skill": "tether.orchestrate.skills",
    "SkillError": "tether.orchestrate.skills",
    "SkillProblem": "tether.orchestrate.skills",
    "Skills": "tether.orchestrate.skills",
    "Slot": "tether.orchestrate.scheduler",
    "SlotRecord": "tether.orchestrate.scheduler",
    "SubAgent": "tether.orchestrate.subagents",
    "SubAgentError": "tether.orchestrate.subagents",
    "task_key": "tether.orchestrate.memory",
    "TaskRecord": "tether.orchestrate.memory",
    "UnknownAgent": "tether.orchestrate.subagents",
    "Verdict": "tether.orchestrate.evaluator",
    "Worktree": "tether.orchestrate.worktree",
    "WorktreeError": "tether.orchestrate.worktree",
    "WorktreeRecord": "tether.orchestrate.worktree",
}

__all__ = [
    "AgentCatalog",
    "AgentPlan",
    "AgentResult",
    "AgentRun",
    "Allowance",
    "Automation",
    "AutomationBudget",
    "AutomationConfigError",
    "Budget",
    "Cron",
    "Delegation",
    "DelegationResult",
    "Evaluator",
    "Every",
    "Evidence",
    "Goal",
    "GoalError",
    "GoalResult",
    "Inbox",
    "InboxItem",
    "Instructions",
    "Isolation",
    "Memory",
    "OrchestrationError",
    "Project",
    "ProjectConfigError",
    "RunRecord",
    "Scheduler",
    "Skill",
    "SkillError",
    "SkillProblem",
    "Skills",
    "Slot",
    "SlotRecord",
    "SubAgent",
    "SubAgentError",
    "TaskRecord",
    "UnknownAgent",
    "Verdict",
    "Worktree",
    "WorktreeError",
    "WorktreeRecord",
    "agent_loop",
    "automation_from_mapping",
    "automation_runner",
    "find_agents",
    "goal_runner",
    "history",
    "load_agent",
    "load_automation",
    "load_automations",
    "loop_runner",
    "read_instructions",
    "run_agent",
    "save_automation",
    "task_key",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
