"""Orchestration: what happens around governed runs (goal runs, automations, memory and inbox,
skills, sub-agents, worktrees).

Every orchestrated run **is** a :class:`tether.Loop`: ceilings, NoProgress, approvals, resume,
traces and ``tether explain`` all apply. This package adds what happens before, between and
after runs, and sits above ``loop/``, ``tools/`` and ``store/`` in the layers; the
``tether agent`` command is a client of this package only.

Names are imported on first use, so ``import tether.orchestrate`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.orchestrate.evaluator import Evaluator, Evidence, Verdict
    from tether.orchestrate.goal import Goal, GoalError, GoalResult
    from tether.orchestrate.instructions import Instructions, read_instructions
    from tether.orchestrate.memory import Memory, TaskRecord, task_key
    from tether.orchestrate.project import Project, ProjectConfigError
    from tether.orchestrate.run import AgentPlan, AgentResult, AgentRun, Budget, run_agent
    from tether.orchestrate.skills import Skill, SkillError, SkillProblem, Skills

_LAZY: dict[str, str] = {
    # one run, goal runs, evaluator (issue 13: agent helper)
    "AgentPlan": "run",
    "AgentResult": "run",
    "AgentRun": "run",
    "Budget": "run",
    "run_agent": "run",
    "Goal": "goal",
    "GoalError": "goal",
    "GoalResult": "goal",
    "Evaluator": "evaluator",
    "Evidence": "evaluator",
    "Verdict": "evaluator",
    "Memory": "memory",
    "TaskRecord": "memory",
    "task_key": "memory",
    "Project": "project",
    "ProjectConfigError": "project",
    "Instructions": "instructions",
    "read_instructions": "instructions",
    "Skill": "skills",
    "SkillError": "skills",
    "SkillProblem": "skills",
    "Skills": "skills",
}

__all__ = [
    "AgentPlan",
    "AgentResult",
    "AgentRun",
    "Budget",
    "Evaluator",
    "Evidence",
    "Goal",
    "GoalError",
    "GoalResult",
    "Instructions",
    "Memory",
    "Project",
    "ProjectConfigError",
    "Skill",
    "SkillError",
    "SkillProblem",
    "Skills",
    "TaskRecord",
    "Verdict",
    "read_instructions",
    "run_agent",
    "task_key",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tether.orchestrate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tether.orchestrate.{module}"), name)
    globals()[name] = value
    return value
