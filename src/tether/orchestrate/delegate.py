"""Sub-agents at run time: a child :class:`~tether.loop.Loop` per task, inside its parent's budget.

::

    from tether.orchestrate import Delegation, find_agents
    from tether.tools.builtin import Workspace

    tools = Workspace(repo).tools()
    delegation = Delegation(find_agents(repo, home), tools=tools)
    parent = Loop(goal, tools=[*tools, delegation.tool()], llm=model, token_limit=200_000)
    delegation.bind(parent)          # children draw on, and are charged to, this run
    result = parent.run()

A sub-agent's run is a governed Loop of its own (ceilings, NoProgress, trace) whose tools are
**only** the intersection of its file's allow-list and its parent's tools, less
``disallowed_tools`` and ``delegate`` itself (no nesting). A tool outside that set is not
advertised and, if the model names it anyway, is an unknown tool the child's runner refuses.
Its system prompt (the file's body) is pinned into the child's system message, so each request
carries it once.

Budgets: the child's ceilings are its file's (else a ``share`` of the parent's), clamped to
what the parent has left at dispatch minus what running siblings have reserved, so parallel
children cannot together overshoot the parent; when a child ends, its tokens and USD are
charged to the parent, whose ceilings see them at their next check (through the adapters in
:mod:`tether.orchestrate.child`). ``isolation: worktree`` runs the child in a git worktree of
its own (:class:`~tether.orchestrate.worktree.Worktree`), its workspace tools confined to it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.orchestrate.child import agent_loop, charge, remaining, run_child
from tether.orchestrate.subagents import (
    BUILTIN_TOOLS,
    AgentCatalog,
    SubAgent,
    SubAgentError,
)

if TYPE_CHECKING:
    from tether.loop import Loop
    from tether.orchestrate.worktree import Worktree, WorktreeRecord
    from tether.tools.tool import Tool, ToolRegistry

__all__ = ["Delegation", "DelegationResult"]

_TOOL_SLACK_S = 30.0


@dataclass(frozen=True)
class DelegationResult:
    """How a sub-agent's run ended.

    Attributes:
        agent: its name.
        status: the child loop's status (``SUCCESS``, ``BUDGET_EXHAUSTED`` ...).
        reason: why it stopped.
        text: its final answer.
        iterations: iterations it ran.
        input_tokens: input tokens it spent (charged to the parent).
        output_tokens: output tokens it spent (charged to the parent).
        cost_usd: USD it spent, ``None`` when its model has no price.
        tools: the tools it was given.
        worktree: its worktree's record (``removed`` or ``kept``), ``None`` without isolation.
        trace_path: its trace, if one was written.
    """

    agent: str
    status: str
    reason: str
    text: str
    iterations: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    tools: tuple[str, ...]
    worktree: WorktreeRecord | None = None
    trace_path: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """What the parent's model reads back from ``delegate``."""
        data = dataclasses.asdict(self)
        data["worktree"] = self.worktree.to_json() if self.worktree is not None else None
        data["trace_path"] = str(self.trace_path) if self.trace_path else None
        data["tools"] = list(self.tools)
        return data


class Delegation:
    """The ``delegate(agent, task)`` tool and the child runs behind it.

    Args:
        agents: the sub-agents the parent may delegate to (a catalog from
            :func:`~tether.orchestrate.subagents.find_agents`, a mapping or agents).
        tools: the parent's tools (without ``delegate``); children get subsets of them.
        llm: the model of agents whose file names none (default: the bound parent's).
        models: resolves an agent file's ``model`` name to what ``Loop(llm=...)`` takes (a
            mapping or a function; default: the name itself).
        worktrees: the manager for ``isolation: worktree`` agents.
        repo: the repository those worktrees are made from (the parent's workspace).
        base: the commit-ish worktrees start from, resolved to a SHA at each dispatch.
        trace_dir: a folder receiving one JSONL trace per child run.
        on_event: called with each child event, with ``"agent"`` added.
        command_timeout_s: ``run_command``'s limit in a worktree's tools, in seconds.
        share: the fraction of the parent's unreserved tokens (and USD) a child gets when its
            file sets no ``token_limit`` (``cost_limit_usd``): the parent keeps room to act on
            the answer, and a second child started in the same turn still gets a budget.
        clock: monotonic seconds (injectable), also given to the children.

    Raises:
        ValueError: two agents share a name, or ``share`` is not in (0, 1].
    """

    def __init__(
        self,
        agents: AgentCatalog | Mapping[str, SubAgent] | Iterable[SubAgent],
        *,
        tools: Iterable[Tool] | ToolRegistry = (),
        llm: Any = None,
        models: Mapping[str, Any] | Callable[[str], Any] | None = None,
        worktrees: Worktree | None = None,
        repo: str | Path | None = None,
        base: str = "HEAD",
        trace_dir: str | Path | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        command_timeout_s: float = 600.0,
        share: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"Delegation share must be in (0, 1], got {share!r}")
        self.share = share
        self.agents = _catalog(agents)
        self.tools: list[Tool] = [t for t in tools if t.name != "delegate"]
        self.llm = llm
        self.models = models
        self.worktrees = worktrees
        self.repo = Path(repo) if repo is not None else None
        self.base = base
        self.trace_dir = Path(trace_dir) if trace_dir is not None else None
        self.on_event = on_event
        self.command_timeout_s = command_timeout_s
        self.clock = clock
        self.results: list[DelegationResult] = []
        """Every child run's result, in the order they ended."""
        self._parent: Loop | None = None
        self._bound_at = 0.0
        self._lock = threading.Lock()
        self._reserved_tokens = 0
        self._reserved_usd = 0.0

    def bind(self, parent: Loop) -> None:
        """Draw children's budgets from ``parent`` and charge their usage to it."""
        self._parent = parent
        self._bound_at = self.clock()

    def tool(self) -> Tool:
        """The ``delegate(agent, task)`` tool (async; parallel-safe: calls in one turn run
        concurrently, each child in its own worktree when its file asks for one).

        Call :meth:`bind` with the parent loop before it runs; until then a call is refused
        (the model reads the error), so no child runs outside a parent's budget.
        """
        from tether.tools.tool import Tool

        async def delegate(agent: str, task: str) -> dict[str, Any]:
            """Hand a self-contained task to a sub-agent and get its final answer back.

            Args:
                agent: the sub-agent's name.
                task: everything it needs to know to do the task; it sees nothing else.
            """
            if self._parent is None:
                raise SubAgentError(
                    "delegate was called before Delegation.bind(parent): bind the parent loop "
                    "so that its budget covers the sub-agent"
                )
            return (await self.arun(agent, task)).to_json()

        listing = "\n".join(
            f"- {a.name}: {a.description}" for a in sorted(self.agents.agents.values(), key=_name)
        )
        longest = max(
            (a.wall_clock_s or 1800.0 for a in self.agents.agents.values()), default=1800.0
        )
        tool = Tool.from_function(
            delegate,
            description="Hand a self-contained task to a sub-agent; it returns its answer, "
            f"status and spend (charged to this run). Agents:\n{listing or '- (none)'}",
            timeout_s=longest + _TOOL_SLACK_S,
            parallel_safe=True,
        )
        parameters = dict(tool.parameters)
        properties = dict(parameters.get("properties", {}))
        if self.agents.agents and "agent" in properties:
            properties["agent"] = {**properties["agent"], "enum": sorted(self.agents.agents)}
            parameters["properties"] = properties
        return dataclasses.replace(tool, parameters=parameters)

    def run(self, agent: str | SubAgent, task: str) -> DelegationResult:
        """Run ``agent`` on ``task`` to its end (blocking; see :meth:`arun`)."""
        return asyncio.run(self.arun(agent, task))

    async def arun(self, agent: str | SubAgent, task: str) -> DelegationResult:
        """Run ``agent`` on ``task`` as a child loop and charge its usage to the parent.

        Raises:
            UnknownAgent: no such agent.
            SubAgentError: its allow-list names an unknown tool, it asks for a worktree and no
                manager or repository was given, it has no model, or the parent has no
                budget left for it.
            WorktreeError: its worktree cannot be made (bad base, uncommitted changes).
        """
        chosen = agent if isinstance(agent, SubAgent) else self.agents.get(agent)
        llm = self._llm(chosen)
        limits = self._reserve(chosen)
        record: WorktreeRecord | None = None
        child: Loop | None = None
        try:
            tools = self.tools
            if chosen.isolation == "worktree":
                record, tools = await self._isolate(chosen)
            names = tuple(chosen.allowed(t.name for t in tools))
            trace_path = None
            if self.trace_dir is not None:
                self.trace_dir.mkdir(parents=True, exist_ok=True)
                trace_path = self.trace_dir / f"agent-{chosen.name}-{secrets.token_hex(4)}.jsonl"
            child = agent_loop(
                chosen,
                task,
                tools=tools,
                llm=llm,
                trace_path=trace_path,
                on_event=self._watch(chosen.name),
                clock=self.clock,
                quiet=True,
                abort=self._parent.abort if self._parent is not None else None,
                **limits,
            )
            result = await run_child(child)
        except BaseException:  # cancelled (the tool's timeout) or could not start
            if child is not None and self._parent is not None:
                spent = child.usage  # no result: charge what its counters hold so far
                charge(
                    self._parent,
                    input_tokens=spent.input_tokens,
                    output_tokens=spent.output_tokens,
                    cost_usd=child.cost_usd or 0.0,
                )
            if record is not None and self.worktrees is not None:
                await asyncio.to_thread(self.worktrees.finish, record)  # kept if it holds work
            raise
        finally:
            self._release(limits)
        if self._parent is not None:
            charge(
                self._parent,
                input_tokens=result.usage.input_tokens,
                output_tokens=result.usage.output_tokens,
                cost_usd=result.cost_usd or 0.0,
            )
        if record is not None and self.worktrees is not None:
            record = await asyncio.to_thread(self.worktrees.finish, record)
        outcome = DelegationResult(
            agent=chosen.name,
            status=result.status.value,
            reason=result.reason,
            text=result.text,
            iterations=result.iterations,
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
            cost_usd=result.cost_usd,
            tools=names,
            worktree=record,
            trace_path=trace_path,
        )
        self.results.append(outcome)
        return outcome

    # -- internals -----------------------------------------------------------------------------------

    def _llm(self, agent: SubAgent) -> Any:
        if agent.model is not None:
            if self.models is None:
                return agent.model
            if callable(self.models):
                return self.models(agent.model)
            if agent.model in self.models:
                return self.models[agent.model]
            return agent.model
        if self.llm is not None:
            return self.llm
        if self._parent is not None:
            return self._parent.llm
        raise SubAgentError(
            "names no model and no default was given (Delegation(llm=...) or bind a parent)",
            file=agent.file,
            key="model",
        )

    def _reserve(self, agent: SubAgent) -> dict[str, Any]:
        """The child's ceilings, held against the parent's allowance until it ends."""
        limits: dict[str, Any] = {}
        if self._parent is None:
            return limits
        left = remaining(self._parent, elapsed_s=self.clock() - self._bound_at)
        with self._lock:
            tokens = left.tokens - self._reserved_tokens
            if tokens <= 0 or left.wall_clock_s <= 0:
                raise SubAgentError(
                    f"no budget left to delegate to {agent.name!r} ({left.tokens:,} tokens left, "
                    f"{self._reserved_tokens:,} held by running sub-agents)"
                )
            limits["token_limit"] = min(agent.token_limit or _share(tokens, self.share), tokens)
            limits["wall_clock_s"] = left.wall_clock_s
            if left.cost_usd is not None:
                usd = left.cost_usd - self._reserved_usd
                if usd <= 0:
                    raise SubAgentError(
                        f"no USD budget left to delegate to {agent.name!r} (${left.cost_usd:.4f} "
                        f"left, ${self._reserved_usd:.4f} held by running sub-agents)"
                    )
                limits["cost_limit_usd"] = min(agent.cost_limit_usd or usd * self.share, usd)
                self._reserved_usd += limits["cost_limit_usd"]
            self._reserved_tokens += limits["token_limit"]
        return limits

    def _release(self, limits: Mapping[str, Any]) -> None:
        with self._lock:
            self._reserved_tokens -= limits.get("token_limit", 0)
            self._reserved_usd -= limits.get("cost_limit_usd", 0.0)

    async def _isolate(self, agent: SubAgent) -> tuple[WorktreeRecord, list[Tool]]:
        """A worktree for ``agent`` and the parent's tools with the workspace ones moved to it."""
        if self.worktrees is None or self.repo is None:
            raise SubAgentError(
                "isolation: worktree needs a worktree manager and a repository "
                "(Delegation(worktrees=Worktree(home), repo=...))",
                file=agent.file,
                key="isolation",
            )
        trees, repo = self.worktrees, self.repo
        record = await asyncio.to_thread(trees.create, repo, base=self.base, agent=agent.name)
        try:
            workspace = await asyncio.to_thread(trees.workspace, record)
        except BaseException:
            await asyncio.to_thread(trees.finish, record)
            raise
        confined = {t.name: t for t in workspace.tools(command_timeout_s=self.command_timeout_s)}
        tools = [
            confined[t.name] if t.name in BUILTIN_TOOLS and t.name in confined else t
            for t in self.tools
        ]
        return record, tools

    def _watch(self, name: str) -> Callable[[dict[str, Any]], None] | None:
        watcher = self.on_event
        if watcher is None:
            return None
        return lambda event: watcher({**event, "agent": name})


def _share(tokens: int, share: float) -> int:
    return max(1, int(tokens * share))


def _name(agent: SubAgent) -> str:
    return agent.name


def _catalog(agents: AgentCatalog | Mapping[str, SubAgent] | Iterable[SubAgent]) -> AgentCatalog:
    if isinstance(agents, AgentCatalog):
        return agents
    items = list(agents.values()) if isinstance(agents, Mapping) else list(agents)
    by_name: dict[str, SubAgent] = {}
    for agent in items:
        if agent.name in by_name:
            raise ValueError(f"two sub-agents are named {agent.name!r}")
        by_name[agent.name] = agent
    return AgentCatalog(by_name)
