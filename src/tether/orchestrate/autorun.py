"""The default run of an automation: one governed :class:`tether.Loop` over the project's tools.

:func:`loop_runner` returns the ``run_automation`` callable the
:class:`~tether.orchestrate.scheduler.Scheduler` is given. Each run is a plain Loop (ceilings,
NoProgress, approvals, trace and state under the home, ``tether explain`` on its trace) over
``Workspace(cwd).tools()``; ``run_command`` is left out — neither callable nor shown to the
model — unless the automation sets ``allow_commands: true``. The per-run ceilings are the
automation's, lowered to what its window budget leaves. An automation with ``verify:`` is a
goal run instead (:mod:`tether.orchestrate.autogoal`, chosen by ``automation_runner``); for one
with ``goal:`` alone, this runner gives the goal to the model as the condition to reach.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tether.orchestrate.automations import Automation
from tether.orchestrate.errors import AutomationConfigError
from tether.orchestrate.scheduler import RunAutomation, RunRecord, Slot

__all__ = ["loop_runner"]


def loop_runner(home: Path, *, llm: Any = None, command_timeout_s: float = 600.0) -> RunAutomation:
    """A ``run_automation`` that runs each slot as a governed Loop.

    Args:
        home: the tether home (traces go to ``<home>/traces/<run id>.jsonl``, state to
            ``<home>/state/<run id>.json``; the default ``cwd`` is the home's parent).
        llm: the model for every run (an ``LLM``, a scripted model, a ``provider/model``
            name); ``None``: the automation's ``model:``, else ``engine.llm`` of the home's
            ``config.yaml``.
        command_timeout_s: ``run_command``'s timeout when commands are allowed (seconds).

    The returned callable raises (and the scheduler records ``failed`` with an inbox item)
    when no model is configured, the key is missing, or ``cwd`` is not a directory.
    """

    def run(automation: Automation, slot: Slot) -> RunRecord:
        from tether.loop import Loop, LoopStatus
        from tether.tools.builtin import Workspace

        model = llm if llm is not None else automation.model or _config_model(home)
        if model is None:
            raise AutomationConfigError(
                str(automation.file or automation.name),
                "no model: set 'model:' in the automation or engine.llm in config.yaml",
            )
        cwd = automation.cwd or home.parent
        tools = [
            t
            for t in Workspace(cwd).tools(command_timeout_s=command_timeout_s)
            if automation.allow_commands or t.name != "run_command"
        ]
        token_limit = automation.token_limit
        if slot.token_limit is not None:
            token_limit = max(1, min(token_limit, slot.token_limit))
        cost = automation.cost_limit_usd
        if slot.cost_limit_usd is not None:
            cost = slot.cost_limit_usd if cost is None else min(cost, slot.cost_limit_usd)
        goal = automation.prompt
        if automation.goal:
            goal = f"{goal}\n\nDone when: {automation.goal}".strip()
        loop = Loop(
            goal,
            tools,
            model,
            max_iterations=automation.max_iterations,
            token_limit=token_limit,
            cost_limit_usd=cost,
            wall_clock_s=automation.wall_clock_s,
            state_path=home / "state" / f"{slot.run_id}.json",
            trace_path=home / "traces" / f"{slot.run_id}.jsonl",
            abort=slot.abort,
            quiet=True,
        )
        result = loop.run()
        return RunRecord(
            ok=result.status == LoopStatus.SUCCESS,
            status=str(result.status),
            reason=result.reason,
            run_id=slot.run_id,
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
            cost_usd=result.cost_usd or 0.0,
        )

    return run


def _config_model(home: Path) -> str | None:
    from tether.config import load_config

    return load_config(home).engine.llm
