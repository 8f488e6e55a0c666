"""One governed agent run over a project's workspace: :class:`AgentRun` and :func:`run_agent`.

An agent run **is** a :class:`tether.Loop`. This module composes what goes into it:

- **tools**: ``Workspace(root).tools()`` (``read_file``, ``write_file``, ``list_directory``;
  ``run_command`` only with ``allow_commands=True`` — without it the tool is not registered, so
  the model is never offered it), ``load_skill`` when the project has skills, and the tools of
  the project's MCP servers (``.mcp.json``, started for the run and closed after it);
- **the system prompt's facts** (``Loop(pinned=…)``), each bounded: the project instructions
  (``AGENTS.md`` / ``CLAUDE.md``), the skills catalogue, a preloaded skill's body, and — only
  with ``memory=True`` — the task's memory (≤ 2 KB);
- **budgets**: iterations, tokens, USD, wall clock (:class:`Budget`);
- **records**: a trace at ``<home>/traces/agent-<run_id>.jsonl``, the loop state at
  ``<home>/state/agent-<run_id>.json`` (an interrupted run is resumable), and one task-memory
  row with the loop's status. A dry run (:meth:`AgentRun.plan`) builds the same loop, reports
  model, tools, budgets and the composed system prompt, and records nothing.

Plug-in point for sub-agents and worktrees: ``AgentRun(tools=…)`` takes an already-built tool
list (it replaces the workspace tools; ``load_skill`` and MCP tools are still added unless
``include_skills``/``include_mcp`` say no), and ``workspace_root=`` confines the workspace tools
to another directory (a worktree) while config, ``.env``, skills and instructions still come
from the project.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.loop.core import Loop
from tether.loop.result import LoopResult
from tether.orchestrate.instructions import read_instructions
from tether.orchestrate.memory import Memory, task_key
from tether.orchestrate.project import Project, load_model
from tether.orchestrate.skills import Skills
from tether.tools.tool import Tool

if TYPE_CHECKING:
    from tether.orchestrate.delegate import Delegation

__all__ = ["AgentPlan", "AgentResult", "AgentRun", "Budget", "new_run_id", "run_agent"]


def new_run_id() -> str:
    """A unique, sortable run id: ``<UTC yyyymmddThhmmss>-<6 hex>``."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class Budget:
    """The ceilings of a run (or of a whole goal run, rounds and judges together).

    Attributes:
        max_iterations: iterations (model calls with their tool batches) per run / per round.
        token_limit: input + output tokens.
        cost_limit_usd: USD, ``None`` for no USD ceiling.
        wall_clock_s: seconds.

    Raises:
        ValueError: a ceiling that is not positive (names it).
    """

    max_iterations: int = 20
    token_limit: int = 200_000
    cost_limit_usd: float | None = None
    wall_clock_s: float = 1800.0

    def __post_init__(self) -> None:
        for name in ("max_iterations", "token_limit", "wall_clock_s", "cost_limit_usd"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """The ceilings as a dict."""
        return {
            "max_iterations": self.max_iterations,
            "token_limit": self.token_limit,
            "cost_limit_usd": self.cost_limit_usd,
            "wall_clock_s": self.wall_clock_s,
        }


@dataclass(frozen=True)
class AgentPlan:
    """What a run will do (a dry run's answer): model, tools, budgets, composed system prompt.

    Attributes:
        model: ``provider/model``.
        tools: tool names offered to the model.
        mcp_servers: names of the MCP servers whose tools join at run time.
        budget: the ceilings.
        system_prompt: the system prompt the model receives.
        task_key: the task the run records under.
        skill: the preloaded skill, if any.
        instruction_files: the instruction files read.
    """

    model: str
    tools: tuple[str, ...]
    mcp_servers: tuple[str, ...]
    budget: Budget
    system_prompt: str
    task_key: str
    skill: str | None = None
    instruction_files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "model": self.model,
            "tools": list(self.tools),
            "mcp_servers": list(self.mcp_servers),
            "budget": self.budget.to_dict(),
            "system_prompt": self.system_prompt,
            "task_key": self.task_key,
            "skill": self.skill,
            "instruction_files": list(self.instruction_files),
        }


@dataclass
class AgentResult:
    """How an agent run ended.

    Attributes:
        run_id: the run's id.
        status: the loop's status (``SUCCESS``, ``BUDGET_EXHAUSTED`` …).
        reason: why, in words.
        text: the model's final text.
        task_key: the task it was recorded under.
        loop: the :class:`~tether.loop.LoopResult`.
        trace_path: the trace file.
        state_path: the saved loop state (resume from it).
        tool_results: the last tool results (``{"tool", "status", "content"}``, at most 10).
    """

    run_id: str
    status: str
    reason: str
    text: str
    task_key: str
    loop: LoopResult
    trace_path: Path
    state_path: Path
    tool_results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the loop ended SUCCESS."""
        return self.loop.ok

    @property
    def tokens(self) -> int:
        """Input + output tokens spent."""
        return self.loop.usage.total_tokens

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``--json`` prints)."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "reason": self.reason,
            "text": self.text,
            "task_key": self.task_key,
            "resumable": self.loop.resumable,
            "recommended_action": self.loop.recommended_action,
            "iterations": self.loop.iterations,
            "input_tokens": self.loop.usage.input_tokens,
            "output_tokens": self.loop.usage.output_tokens,
            "cost_usd": self.loop.cost_usd,
            "trace": str(self.trace_path),
            "state": str(self.state_path),
        }


class AgentRun:
    """A governed run toward ``prompt`` in ``project`` (see the module docstring).

    Args:
        prompt: the task, in words.
        project: the target project (:meth:`Project.at`).
        model: ``"provider/model"``, ``"scripted:<file.py>"``, an :class:`~tether.llm.LLM` or a
            pydantic-ai model; ``None`` reads ``engine.llm`` of the project's config.
        tools: an already-built tool list replacing the workspace tools (sub-agents).
        workspace_root: where the workspace tools are confined (default: the project root).
        include_skills: offer ``load_skill`` and the catalogue when the project has skills.
        include_mcp: add the project's MCP servers' tools.
        skill: a skill name to preload into the system prompt.
        allow_commands: register ``run_command`` (else it is neither offered nor runnable).
        budget: the ceilings.
        task: the task key (default: derived from ``prompt``).
        memory: put the task's memory into the system prompt.
        pinned: more facts for the system prompt.
        on_event: called with every trace event (dicts, as :class:`tether.Loop` emits them).
        run_id: the run's id (default: :func:`new_run_id`).
        clock: monotonic seconds for the loop (injectable).
        delegation: sub-agents the model may hand tasks to: its ``delegate`` tool joins the
            run's tools and is bound to the run's loop (children are charged to it).

    Raises:
        ProjectConfigError: no model, a broken ``.mcp.json``.
        SkillError: ``skill`` is not a valid, known skill.
    """

    def __init__(
        self,
        prompt: str,
        *,
        project: Project,
        model: Any = None,
        tools: Sequence[Tool] | None = None,
        workspace_root: str | Path | None = None,
        include_skills: bool = True,
        include_mcp: bool = True,
        skill: str | None = None,
        allow_commands: bool = False,
        budget: Budget | None = None,
        task: str | None = None,
        memory: bool = False,
        pinned: Sequence[str] = (),
        on_event: Callable[[dict[str, Any]], None] | None = None,
        run_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        delegation: Delegation | None = None,
    ) -> None:
        from tether.tools.builtin import Workspace

        if not prompt.strip():
            raise ValueError("the prompt is empty")
        self.prompt = prompt
        self.project = project
        self.model = (
            load_model(model, project) if model is None or isinstance(model, str) else model
        )
        self.budget = budget or Budget()
        self.task_key = task or task_key(prompt)
        self.memory = memory
        self.on_event = on_event
        self.run_id = run_id or new_run_id()
        self.clock = clock
        self.options: dict[str, Any] = {
            "prompt": prompt,
            "model": model if isinstance(model, str) else None,
            "skill": skill,
            "allow_commands": allow_commands,
            "task": self.task_key,
            "memory": memory,
            "workspace_root": str(workspace_root) if workspace_root is not None else None,
            "budget": self.budget.to_dict(),
        }
        """What :meth:`resume` needs to rebuild this run (saved beside its state)."""
        self.skills = Skills.for_project(project.root, project.home) if include_skills else None
        self.skill = self.skills.get(skill) if skill is not None and self.skills else None
        if skill is not None and self.skill is None:
            from tether.orchestrate.skills import SkillError

            raise SkillError(f"--skill {skill}: skills are switched off for this run")
        if tools is None:
            workspace = Workspace(workspace_root or project.root)
            tools = [t for t in workspace.tools() if allow_commands or t.name != "run_command"]
        self.tools: list[Tool] = list(tools)
        if self.skills is not None and self.skills.skills:
            self.tools.append(self.skills.load_skill_tool())
        self.mcp_servers = project.mcp_servers() if include_mcp else []
        self.instructions = read_instructions(project.root)
        self.extra_pinned = list(pinned)
        self.delegation = delegation
        """Sub-agents the model may hand tasks to (a ``delegate`` tool, bound to the run)."""
        self.trace_path = project.home / "traces" / f"agent-{self.run_id}.jsonl"
        self.state_path = project.home / "state" / f"agent-{self.run_id}.json"

    # -- composition -------------------------------------------------------------------------------

    def pinned(self, memory_text: str = "") -> list[str]:
        """The facts of the system prompt, in order (instructions, skills, skill, memory, extra)."""
        out: list[str] = []
        if self.instructions.text:
            out.append("PROJECT INSTRUCTIONS:\n" + self.instructions.text)
        if self.skills is not None and self.skills.skills:
            out.append(self.skills.catalogue())
        if self.skill is not None:
            out.append(f"PRELOADED SKILL {self.skill.name}:\n{self.skill.body}")
        if memory_text:
            out.append(memory_text)
        return out + self.extra_pinned

    def _memory_text(self, store: Any) -> str:
        if not self.memory:
            return ""
        return Memory(store).prompt_text(self.task_key)

    def _loop(
        self,
        tools: Sequence[Tool],
        memory_text: str,
        *,
        record: bool,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> Loop:
        if self.delegation is not None:
            tools = [*tools, self.delegation.tool()]
        loop = Loop(
            self.prompt,
            tools=list(tools),
            llm=self.model,
            max_iterations=self.budget.max_iterations,
            token_limit=self.budget.token_limit,
            cost_limit_usd=self.budget.cost_limit_usd,
            wall_clock_s=self.budget.wall_clock_s,
            pinned=self.pinned(memory_text),
            state_path=self.state_path if record else None,
            trace_path=self.trace_path if record else None,
            on_event=on_event,
            quiet=True,
            clock=self.clock,
        )
        if self.delegation is not None:
            self.delegation.bind(loop)  # children draw on, and are charged to, this loop
        return loop

    def plan(self, store: Any = None) -> AgentPlan:
        """What the run would do, without running or recording anything (a dry run).

        Args:
            store: the store to read memory from when ``memory=True`` (read only).
        """
        memory_text = self._memory_text(store) if store is not None else ""
        loop = self._loop(self.tools, memory_text, record=False)
        system = loop.conversation()[0]
        return AgentPlan(
            model=loop.llm.model,
            tools=tuple(loop.runner.tools.names()),
            mcp_servers=tuple(s.name for s in self.mcp_servers),
            budget=self.budget,
            system_prompt=getattr(system, "text", ""),
            task_key=self.task_key,
            skill=self.skill.name if self.skill else None,
            instruction_files=tuple(p.name for p in self.instructions.files),
        )

    # -- running -----------------------------------------------------------------------------------

    def run(self, store: Any = None, *, record: bool = True) -> AgentResult:
        """Run the loop to a status; record the task's outcome in ``store`` when ``record``.

        Args:
            store: the store (default: ``open_store(project.home)``).
            record: write the task-memory row (a goal run records once, for the whole goal).

        Raises:
            MCPError: an MCP server would not start.
            StoreError: memory cannot be read or written.
        """
        from tether.store import open_store

        store = store if store is not None else open_store(self.project.home)
        memory_text = self._memory_text(store)
        self.options_path.parent.mkdir(parents=True, exist_ok=True)
        self.options_path.write_text(json.dumps(self.options), encoding="utf-8")

        def start(tools: list[Tool], watch: Callable[[dict[str, Any]], None]) -> LoopResult:
            return self._loop(tools, memory_text, record=True, on_event=watch).run()

        return self._execute(start, store, record=record, run_id=self.run_id)

    @property
    def options_path(self) -> Path:
        """Where the run's options are saved for :meth:`resume` (beside its state)."""
        return self.state_path.with_name(f"agent-{self.run_id}.options.json")

    @classmethod
    def resume(
        cls,
        run_id: str,
        *,
        project: Project,
        model: Any = None,
        store: Any = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        extend: dict[str, float] | None = None,
    ) -> AgentResult:
        """Continue the interrupted run ``run_id`` (``Loop.resume`` with the same tools).

        Args:
            run_id: the run's id (``tether agent run`` prints it).
            project: its project.
            model: overrides the saved model (needed when the run was given a model object).
            store: where the outcome is recorded (a new task-memory row).
            on_event: called with every trace event.
            extend: added to the saved ceilings (``{"max_iterations": 10}``).

        Raises:
            ProjectConfigError: no saved run ``run_id`` (names the file).
            StateError: its state cannot be resumed (it finished, or is corrupt).
        """
        from tether.orchestrate.project import ProjectConfigError
        from tether.store import open_store

        path = project.home / "state" / f"agent-{run_id}.options.json"
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ProjectConfigError(f"{path}: no resumable agent run {run_id!r} ({exc})") from None
        run = cls(
            saved["prompt"],
            project=project,
            model=model if model is not None else saved.get("model"),
            workspace_root=saved.get("workspace_root"),
            skill=saved.get("skill"),
            allow_commands=bool(saved.get("allow_commands")),
            budget=Budget(**saved["budget"]),
            task=saved.get("task"),
            memory=bool(saved.get("memory")),
            on_event=on_event,
            run_id=run_id,
            clock=time.monotonic,
        )

        def start(tools: list[Tool], watch: Callable[[dict[str, Any]], None]) -> LoopResult:
            return Loop.resume(
                run.state_path,
                tools=tools,
                llm=run.model,
                extend=extend,
                on_event=watch,
                quiet=True,
                otel=True,
            )

        store = store if store is not None else open_store(project.home)
        record_id = f"{run_id}-resumed-{secrets.token_hex(2)}"
        return run._execute(start, store, record=True, run_id=record_id)

    def _execute(
        self,
        start: Callable[[list[Tool], Callable[[dict[str, Any]], None]], LoopResult],
        store: Any,
        *,
        record: bool,
        run_id: str,
    ) -> AgentResult:
        """Open the MCP servers, run ``start(tools, watch)``, collect tool results, record."""
        results: list[dict[str, Any]] = []
        outer = self.on_event

        def watch(event: dict[str, Any]) -> None:
            if event.get("event") == "tool.result":
                results.append(
                    {
                        "tool": event.get("tool"),
                        "status": event.get("status"),
                        "content": str(event.get("content", ""))[:1000],
                    }
                )
                del results[:-10]
            if outer is not None:
                outer(event)

        with ExitStack() as stack:
            tools = list(self.tools)
            for server in self.mcp_servers:
                tools.extend(stack.enter_context(server.connect()).tools)
            outcome = start(tools, watch)
        result = AgentResult(
            run_id=self.run_id,
            status=outcome.status.value,
            reason=outcome.reason,
            text=outcome.text,
            task_key=self.task_key,
            loop=outcome,
            trace_path=self.trace_path,
            state_path=self.state_path,
            tool_results=results,
        )
        if record:
            Memory(store).record(
                self.task_key,
                run_id=run_id,
                status=result.status,
                reason=result.reason,
                kind="run",
                title=self.prompt,
                tokens=result.tokens,
                cost_usd=outcome.cost_usd,
            )
        return result


def run_agent(prompt: str, *, cwd: str | Path = ".", **options: Any) -> AgentResult:
    """Run one agent in the project at ``cwd`` (see :class:`AgentRun` for ``options``).

    ``home=`` picks the tether home (default: resolved from ``cwd``).
    """
    project = Project.at(cwd, home=options.pop("home", None))
    return AgentRun(prompt, project=project, **options).run()
