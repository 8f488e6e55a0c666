"""The explorer: a governed :class:`~tether.loop.Loop` whose job is to leave a valid rule.

::

    from tether.explore import Explorer, ExploreSettings

    explorer = Explorer(llm, rules=list(engine.book), actions=signatures,
                        settings=ExploreSettings(max_tool_calls=20, hint="runs in CI"))
    found = explorer.run(context)
    found.outcome      # "submitted", "existing", "done", "gave_up", "escalated" or "failed"
    found.submission   # the validated rule (+ action code) when "submitted"

The loop gets the signal tools (:mod:`tether.explore.signals`), the user's
tools, and — unless switched off — the built-in file tools confined to the
job's directory, where writes under ``<home>/rules`` and ``<home>/actions``
are refused: rules and actions in force are read-only while exploring; a new
rule only arrives through ``submit_rule``.

Budgets per exploration: ``max_tool_calls`` (the loop's tool-call ceiling: a
call past it is never run; signal calls are not counted), ``max_tokens`` (input + output, the loop's token
ceiling) and ``wall_clock_s``. A provider failure ends the loop with status
ERROR; the exploration then ends ``failed`` with that reason. With
``allow_escalation``, a ``give_up`` or ``escalate`` hands over to the
secondary model (``LLM(..., secondary=)``) with the findings.

Nothing here writes rules or actions: verification and promotion belong to
the engine (``Tether.explore`` and the recovery loop).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether._bridge import off_running_loop
from tether.errors import ToolError
from tether.explore.isolate import ActionSignature
from tether.explore.prompt import GOAL, render_facts
from tether.explore.signals import EXITS, Signals
from tether.explore.validate import Submission
from tether.loop.progress import NoProgress
from tether.rules.model import Rule
from tether.tools.tool import Tool

if TYPE_CHECKING:
    from tether.llm.client import LLM
    from tether.loop.result import LoopResult

__all__ = ["Exploration", "ExploreSettings", "Explorer", "guarded_file_tools", "secondary_llm"]


@dataclass
class ExploreSettings:
    """Budgets and switches of one exploration.

    Attributes:
        max_tool_calls: tool calls the exploration may run (signals not counted; the loop
            refuses the one past it and stops).
        max_tokens: input + output tokens over the exploration's model calls.
        wall_clock_s: seconds the exploration may take.
        hint: the user's hint, shown to the model.
        allow_escalation: a give-up or escalate hands over to the secondary model.
        builtin_tools: give the model read/list/write/run tools confined to the job's directory.
        max_tokens_per_call: output limit of one model call (clamped to what is left).
    """

    max_tool_calls: int = 30
    max_tokens: int = 100_000
    wall_clock_s: float = 600.0
    hint: str | None = None
    allow_escalation: bool = False
    builtin_tools: bool = True
    max_tokens_per_call: int = 4096


@dataclass
class Exploration:
    """How one exploration ended.

    Attributes:
        outcome: ``"submitted"`` (a valid new rule), ``"existing"`` (an existing rule fits),
            ``"done"`` (fixed directly), ``"gave_up"``, ``"escalated"`` (and nobody took over),
            or ``"failed"`` (a ceiling, no progress, a provider error, no signal).
        reason: in words: the summary, the reason, the findings, or why the loop stopped.
        submission: the validated submission when ``"submitted"``.
        rule: the rule to run: the submitted one or the existing one.
        captures: what the rule captured on the failure.
        status: the last loop's status (``"SUCCESS"``, ``"BUDGET_EXHAUSTED"`` ...).
        model: the model(s) that explored, ``provider/model`` joined by `` -> ``.
        input_tokens: input tokens over every loop of this exploration.
        output_tokens: output tokens over every loop.
        tool_calls: tool calls made.
        duration_s: seconds from start to end.
        rejections: submissions rejected by validation, as the messages the model read.
        escalated: a secondary model took over.
        trace_paths: the JSONL traces written.
    """

    outcome: str
    reason: str
    submission: Submission | None = None
    rule: Rule | None = None
    captures: dict[str, str] = field(default_factory=dict)
    status: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    duration_s: float = 0.0
    rejections: list[str] = field(default_factory=list)
    escalated: bool = False
    trace_paths: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


def guarded_file_tools(root: Path, protected: Sequence[Path]) -> list[Tool]:
    """The built-in workspace tools for ``root``, with ``write_file`` refusing ``protected`` dirs.

    Raises:
        ToolError: ``root`` is not a directory.
    """
    from tether.tools.builtin import Workspace

    workspace = Workspace(root)
    tools = workspace.tools(command_timeout_s=120.0)
    shielded = [p.resolve() for p in protected]
    writer = next(t for t in tools if t.name == "write_file")

    def write_file(path: str, content: str) -> str:
        target = workspace.resolve(path)
        for directory in shielded:
            if target == directory or directory in target.parents:
                raise ToolError(
                    f"{path!r} is under {directory}, which is read-only while exploring; "
                    "propose rules and actions with submit_rule instead"
                )
        return str(writer.fn(path, content))

    write_file.__doc__ = writer.fn.__doc__
    guarded = Tool.from_function(write_file, name="write_file", timeout_s=30)
    return [guarded if t.name == "write_file" else t for t in tools]


def secondary_llm(llm: LLM) -> LLM | None:
    """An :class:`~tether.llm.LLM` on ``llm``'s secondary model alone, or ``None`` without one."""
    return llm.secondary_only()


class Explorer:
    """Runs explorations for one engine's state (rules, actions, tools).

    Args:
        llm: the model client (its secondary is used for escalation).
        rules: the rules in force.
        actions: registered actions' signatures by name.
        tools: the user's tools (they win over built-ins of the same name).
        near_misses: rules the resolver ranked close to the failure (shown, never run).
        workspace: the job's directory (file tools confined there; default: no file tools).
        protected: directories the file tools may not write (``<home>/rules``, ``<home>/actions``).
        settings: budgets and switches.
        trace_path: a function ``(n) -> path`` naming the JSONL trace of the n-th loop (0-based).
        on_event: called with each loop event (a dict, see :class:`~tether.loop.Trace`), plus
            ``tokens_used``, ``token_limit``, ``calls_made``, ``max_tool_calls`` and
            ``explorer_model``.
        clock: monotonic seconds.
    """

    def __init__(
        self,
        llm: LLM,
        *,
        rules: Sequence[Rule],
        actions: Mapping[str, ActionSignature],
        tools: Sequence[Tool] = (),
        near_misses: Sequence[Any] = (),
        workspace: Path | None = None,
        protected: Sequence[Path] = (),
        settings: ExploreSettings | None = None,
        trace_path: Callable[[int], Path] | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.llm = llm
        self.rules = list(rules)
        self.actions = dict(actions)
        self.user_tools = list(tools)
        self.near_misses = list(near_misses)
        self.workspace = workspace
        self.protected = list(protected)
        self.settings = settings or ExploreSettings()
        self.trace_path = trace_path
        self.on_event = on_event
        self.clock = clock
        self._loops = 0

    def run(
        self,
        context: Mapping[str, Any],
        *,
        rejections: Sequence[str] = (),
        tried: Sequence[str] = (),
        findings: str | None = None,
        llm: LLM | None = None,
    ) -> Exploration:
        """Explore ``context`` until a signal, a ceiling or an error; never raises for the model.

        Args:
            context: the failure (flat mapping).
            rejections: earlier rejections for this failure (shown to the model).
            tried: rules already tried on this failure (``use_existing_rule`` refuses them).
            findings: what an earlier model found (escalation).
            llm: the model for this run (default: the explorer's).
        """
        started = self.clock()
        found = self._once(context, rejections, tried, findings, llm or self.llm)
        if (
            self.settings.allow_escalation
            and llm is None
            and found.outcome in ("gave_up", "escalated")
        ):
            stronger = secondary_llm(self.llm)
            if stronger is not None:
                notes = f"{found.outcome}: {found.reason}"
                more = self._once(context, [*rejections, *found.rejections], tried, notes, stronger)
                more.escalated = True
                more.model = f"{found.model} -> {more.model}"
                more.input_tokens += found.input_tokens
                more.output_tokens += found.output_tokens
                more.tool_calls += found.tool_calls
                more.rejections = found.rejections + more.rejections
                more.trace_paths = found.trace_paths + more.trace_paths
                found = more
        found.duration_s = round(self.clock() - started, 4)
        return found

    def _tools(self, signals: Signals) -> list[Tool]:
        tools: dict[str, Tool] = {}
        if self.settings.builtin_tools and self.workspace is not None:
            with contextlib.suppress(ToolError):  # the job's directory is gone: no file tools
                tools.update(
                    (t.name, t) for t in guarded_file_tools(self.workspace, self.protected)
                )
        tools.update((t.name, t) for t in self.user_tools)
        tools.update((t.name, t) for t in signals.tools())  # signals cannot be shadowed
        return list(tools.values())

    def _once(
        self,
        context: Mapping[str, Any],
        rejections: Sequence[str],
        tried: Sequence[str],
        findings: str | None,
        llm: LLM,
    ) -> Exploration:
        from tether.loop.core import Loop

        s = self.settings
        protected_watch = [*self.protected, *([self.workspace] if self.workspace else [])]
        signals = Signals(context, self.rules, self.actions, protected_watch, tried)
        facts = render_facts(
            context,
            hint=s.hint,
            near_misses=self.near_misses,
            rules=self.rules,
            actions=self.actions.values(),
            rejections=rejections,
            findings=findings,
            workspace=str(self.workspace) if self.workspace else None,
        )
        trace = self.trace_path(self._loops) if self.trace_path is not None else None
        self._loops += 1
        loop_box: list[Loop] = []
        made = [0]

        def forward(event: dict[str, Any]) -> None:
            if event.get("event") == "tool.call":
                made[0] += 1
            if self.on_event is None or not loop_box:
                return
            self.on_event(
                {
                    **event,
                    "tokens_used": loop_box[0].usage.total_tokens,
                    "token_limit": s.max_tokens,
                    "calls_made": made[0],
                    "max_tool_calls": s.max_tool_calls,
                    "explorer_model": llm.model,
                }
            )

        loop = Loop(
            GOAL,
            self._tools(signals),
            llm,
            exits=EXITS,
            policies=[NoProgress(3)],
            max_tool_calls=s.max_tool_calls,
            max_iterations=s.max_tool_calls,
            token_limit=s.max_tokens,
            wall_clock_s=s.wall_clock_s,
            max_tokens_per_call=min(s.max_tokens_per_call, s.max_tokens),
            pinned=facts,
            trace_path=trace,
            on_event=forward,
            quiet=True,
            clock=self.clock,
        )
        loop_box.append(loop)
        # on a worker thread when this thread runs an event loop (a sync marked function
        # called from async code): one event loop cannot run inside another
        result: LoopResult = off_running_loop(loop.run, name="tether-explore", copy_context=False)
        calls = sum(len(r.tool_calls) for r in loop.reports)
        return _ending(result, signals, llm.model, calls, str(trace) if trace else None)


def _ending(
    result: LoopResult, signals: Signals, model: str, calls: int, trace: str | None
) -> Exploration:
    """The :class:`Exploration` a finished loop amounts to."""
    common: dict[str, Any] = {
        "status": result.status.value,
        "model": model,
        "input_tokens": result.usage.input_tokens,
        "output_tokens": result.usage.output_tokens,
        "tool_calls": calls,
        "rejections": list(signals.rejections),
        "trace_paths": [trace] if trace else [],
    }
    exit_ = result.exit
    if exit_ is None:
        if result.status.value == "SUCCESS":
            reason = (
                "the model answered without calling a signal tool (submit_rule, give_up ...): "
                + (result.text or "no text")[:300]
            )
        else:
            reason = f"{result.status.value}: {result.reason}"
        return Exploration("failed", reason, **common)
    text = str(exit_.value) if exit_.value is not None else ""
    if exit_.tool == "submit_rule" and signals.submission is not None:
        sub = signals.submission
        return Exploration(
            "submitted",
            f"submitted rule {sub.rule.name!r}",
            sub,
            sub.rule,
            dict(sub.captures),
            **common,
        )
    if exit_.tool == "use_existing_rule" and signals.existing is not None:
        return Exploration(
            "existing",
            f"existing rule {signals.existing.name!r} fits",
            None,
            signals.existing,
            dict(signals.existing_captures),
            **common,
        )
    outcome = {"done": "done", "give_up": "gave_up", "escalate": "escalated"}.get(
        exit_.tool, "failed"
    )
    return Exploration(outcome, text, **common)
