"""Automations that are goal runs: ``goal:`` with ``verify:`` runs worker rounds until the
command says the goal is met, exactly as ``tether agent goal --verify`` does.

:func:`automation_runner` is what the scheduler is given by default: an automation with a
``verify:`` command is a :class:`~tether.orchestrate.goal.Goal` run (the command decides, never
the model's claim); any other is a plain governed Loop (:func:`~tether.orchestrate.autorun.loop_runner`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tether.orchestrate.automations import Automation
from tether.orchestrate.autorun import loop_runner
from tether.orchestrate.scheduler import RunAutomation, RunRecord, Slot

__all__ = ["automation_runner", "goal_runner"]


def goal_runner(home: Path, store: Any, *, llm: Any = None) -> RunAutomation:
    """A ``run_automation`` that runs each slot as a goal run decided by the automation's
    ``verify:`` command (in its ``cwd``, a git repository), within the slot's budget.

    Args:
        home: the tether home (traces, state and task memory go there).
        store: the store the goal's outcome is recorded in (task memory).
        llm: the worker model; ``None``: the automation's ``model:``, else ``engine.llm``.
    """

    def run(automation: Automation, slot: Slot) -> RunRecord:
        from tether.orchestrate.goal import Goal
        from tether.orchestrate.memory import task_key
        from tether.orchestrate.project import Project, load_model
        from tether.orchestrate.run import AgentRun, Budget

        project = Project.at(automation.cwd or home.parent, home=home)
        chosen = llm if llm is not None else automation.model
        model = load_model(chosen, project) if chosen is None or isinstance(chosen, str) else chosen
        token_limit = automation.token_limit
        if slot.token_limit is not None:
            token_limit = max(1, min(token_limit, slot.token_limit))
        cost = automation.cost_limit_usd
        if slot.cost_limit_usd is not None:
            cost = slot.cost_limit_usd if cost is None else min(cost, slot.cost_limit_usd)
        budget = Budget(automation.max_iterations, token_limit, cost, automation.wall_clock_s)
        condition = automation.goal or f"the command `{automation.verify}` exits 0"
        prompt = automation.prompt or condition
        key = task_key(f"automation:{automation.name}")

        def make_run(round_prompt: str, room: Budget, run_id: str) -> AgentRun:
            return AgentRun(
                round_prompt,
                project=project,
                model=model,
                allow_commands=automation.allow_commands,
                budget=room,
                task=key,
                run_id=run_id,
            )

        spec = Goal(condition, verify=automation.verify)
        result = spec.run(
            prompt,
            make_run=make_run,
            budget=budget,
            workspace=project.root,
            store=store,
            task_key=key,
            run_id=slot.run_id,
        )
        spent = result.spending
        return RunRecord(
            ok=result.met,
            status=result.status,
            reason=result.reason,
            run_id=slot.run_id,
            input_tokens=spent.tokens,
            output_tokens=0,
            cost_usd=spent.cost_usd or 0.0,
        )

    return run


def automation_runner(home: Path, store: Any, *, llm: Any = None) -> RunAutomation:
    """The default ``run_automation``: a goal run for an automation with ``verify:``, else a
    plain governed Loop. Arguments as :func:`goal_runner`."""
    plain = loop_runner(home, llm=llm)
    goal = goal_runner(home, store, llm=llm)

    def run(automation: Automation, slot: Slot) -> RunRecord:
        return goal(automation, slot) if automation.verify else plain(automation, slot)

    return run
