"""What a governed run works with: its model, tools, clock, state file, trace and settings.

Modelled on pydantic-ai's ``GraphAgentDeps`` (``pydantic_ai/_agent_graph.py``): one
dataclass, built once per session by :class:`~tether.loop.core.Loop`, handed to every step
next to the :class:`~tether.loop.run_state.RunState`. The steps never reach back into
``Loop``; what they need is here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.llm.client import LLM
from tether.loop.approval import ApprovalRunner, RequireApproval
from tether.loop.ceilings import Ceilings
from tether.loop.progress import GoalMetric
from tether.loop.result import LoopStatus
from tether.loop.state import LoopState, StateFile
from tether.loop.summary import Summarizer
from tether.loop.trace import Trace
from tether.tools.invoke import ToolRunner
from tether.tools.tool import Tool, ToolRegistry

__all__ = ["Services", "exit_statuses", "tool_runner"]


@dataclass
class Services:
    """The services and settings of one run session (see the module docstring).

    Attributes:
        goal: what the run must achieve.
        llm: the model.
        runner: runs the tools (validation, timeouts, parallel-safe batches).
        clock: monotonic seconds.
        ceilings: the limits and their checks.
        trace: receives every event (JSONL file, callbacks, spans); set when a session starts.
        policies: judges of each iteration, in order.
        approvals: the :class:`~tether.loop.approval.RequireApproval` ones among them.
        approval_runner: decides gated calls (``None``: chosen at the first gated call).
        exits: tool name → the status its successful call ends the run with.
        observe: the observation callback, or ``None``.
        goal_metric: measures observations, or ``None``.
        summarizer: writes the summary lines of old iterations.
        verbatim_iterations: iterations kept word for word in the prompt.
        pinned: facts in every prompt.
        state_path: where the run is saved, or ``None``.
        state_file: the open snapshot + journal while a session runs.
        saved: the state as last saved (the journal's mirror), or ``None``.
        trace_path: the JSONL trace file, or ``None``.
        abort: set by the caller to stop at the next safe point.
        interrupted: set by the first Ctrl-C to stop at the next safe point.
    """

    goal: str
    llm: LLM
    runner: ToolRunner
    clock: Callable[[], float]
    ceilings: Ceilings
    summarizer: Summarizer
    policies: list[Any] = field(default_factory=list)
    approvals: list[RequireApproval] = field(default_factory=list)
    approval_runner: ApprovalRunner | None = None
    exits: dict[str, LoopStatus] = field(default_factory=dict)
    observe: Callable[[], Any] | None = None
    goal_metric: GoalMetric | None = None
    verbatim_iterations: int = 6
    pinned: list[str] = field(default_factory=list)
    state_path: Path | None = None
    state_file: StateFile | None = None
    saved: LoopState | None = None
    trace_path: Any = None
    trace: Trace | None = None
    abort: threading.Event | None = None
    interrupted: threading.Event | None = None

    def emit(self, event: str, **fields: Any) -> None:
        """Write one trace event (nothing when no session is running)."""
        if self.trace is not None:
            self.trace.emit(event, **fields)

    def abort_requested(self) -> str | None:
        """The reason to stop at this safe point (Ctrl-C, or ``abort`` set), or ``None``."""
        if self.interrupted is not None and self.interrupted.is_set():
            return "interrupted (Ctrl-C)"
        if self.abort is not None and self.abort.is_set():
            return "abort requested"
        return None


def tool_runner(
    tools: Iterable[Callable[..., Any] | Tool] | ToolRegistry, clock: Callable[[], float]
) -> ToolRunner:
    """A runner over ``tools``: functions (schemas from their hints), tools, or a registry."""
    if isinstance(tools, ToolRegistry):
        return ToolRunner(tools, clock=clock)
    registry = ToolRegistry()
    for entry in tools:
        registry.add(entry if isinstance(entry, Tool) else Tool.from_function(entry))
    return ToolRunner(registry, clock=clock)


def exit_statuses(
    exits: Mapping[str, LoopStatus | str] | Iterable[str], runner: ToolRunner
) -> dict[str, LoopStatus]:
    """Exit tools by name with the status each ends the run with (names alone: SUCCESS).

    Raises:
        ValueError: a name is not a registered tool, or a status is not a ``LoopStatus``.
    """
    out = (
        {name: LoopStatus(status) for name, status in exits.items()}
        if isinstance(exits, Mapping)
        else dict.fromkeys(exits, LoopStatus.SUCCESS)
    )
    unknown = sorted(set(out) - set(runner.tools.names()))
    if unknown:
        raise ValueError(f"Loop exits name tools that are not registered: {', '.join(unknown)}")
    return out
