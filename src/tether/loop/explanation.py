"""An explanation of a governed run, as values: its stop, usage, signals and decision chain.

:func:`tether.loop.explain.explain` builds an :class:`Explanation` from a trace;
its methods give the lines and rows a display shows, and :meth:`Explanation.to_markdown`
renders it (:mod:`tether.loop.explain_render`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.loop.explain_render import to_markdown

__all__ = [
    "INCOMPLETE",
    "ChainEntry",
    "Explanation",
    "RunUsage",
    "Signal",
    "ToolStep",
]

INCOMPLETE = "RUNNING/INCOMPLETE"
"""The status of a run whose trace has no final ``loop.end`` (still going, or killed)."""


@dataclass
class RunUsage:
    """What a run spent, summed over its ``llm.call`` and ``tool.result`` events."""

    input_tokens: int = 0
    output_tokens: int = 0
    llm_calls: int = 0
    tool_calls: int = 0
    failed_tool_calls: int = 0
    """Tool calls whose status was not ``ok`` (errors, timeouts, invalid calls)."""
    cost_usd: float | None = 0.0
    """USD over the run; ``None`` when some call had no price."""
    duration_s: float = 0.0
    """Seconds from the run's first event to its last."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass
class Signal:
    """Something worth a reader's attention.

    Attributes:
        kind: ``regression``, ``repeated_action``, ``invalid_call``, ``tool_error``,
            ``policy_stop``, ``approval``, ``truncated_output`` or ``problem`` (of the trace
            or a callback: missing events, cut-off lines, events after the end).
        text: what happened, in words.
        iteration: the iteration it belongs to, if any.
    """

    kind: str
    text: str
    iteration: int | None = None


@dataclass
class ToolStep:
    """One tool call and how it ended."""

    tool: str
    call_id: str
    arguments: str
    """The arguments, shortened for display (``path="a.txt", mode="w"``)."""
    repeated: bool = False
    """The same call (tool and arguments) was made earlier in the run."""
    status: str | None = None
    """``ok``, ``error``, ``timeout``, ``invalid_arguments`` ...; ``None``: no result recorded."""
    truncated: bool = False
    duration_s: float | None = None
    detail: str = ""
    """The first line of an error's message."""

    def call_text(self) -> str:
        """``tool(arguments)``."""
        return f"{self.tool}({self.arguments})"

    def outcome_text(self) -> str:
        """How the call ended, in words (``error: FileNotFoundError ...``, ``ok (0.2 s)``)."""
        if self.status is None:
            out = "no result recorded"
        elif self.status == "ok":
            out = "ok" if self.duration_s is None else f"ok ({self.duration_s:g} s)"
        else:
            out = f"{self.status}: {self.detail}" if self.detail else self.status
        if self.truncated:
            out += " [output truncated]"
        if self.repeated:
            out += " [repeats an earlier call]"
        return out


@dataclass
class ChainEntry:
    """One step of the decision chain.

    Attributes:
        kind: ``iteration``; ``stop`` (a ``loop.end``, intermediate when the run was resumed);
            ``resumed``; ``incomplete`` (the trace ends without a stop); ``event`` (an event
            outside any iteration).
        iteration: the iteration number, for ``iteration`` entries.
        summary: the entry's headline for entries that are not iterations.
        said: what the model wrote in this iteration (shortened).
        tools: the tool calls, in order.
        metric: the goal metric measured at the start of the iteration (value, detail, trend).
        decisions: what the policies said after the iteration.
        notes: other events of the iteration (continuations, approvals, unknown events).
        asked_model: the model was called in this iteration.
        planned: the tools the model asked for (from ``llm.call``), whether they ran or not.
        continued: the iteration appears earlier in the chain (it went on after a resume).
    """

    kind: str
    iteration: int | None = None
    summary: str = ""
    said: str = ""
    tools: list[ToolStep] = field(default_factory=list)
    metric: str = ""
    decisions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    asked_model: bool = False
    planned: list[str] = field(default_factory=list)
    continued: bool = False
    notes_before_tools: int | None = None
    """How many of ``notes`` came before the first tool call (``None``: no tool call)."""

    def empty(self) -> bool:
        """An iteration that started and recorded nothing else."""
        return self.kind == "iteration" and not (
            self.asked_model or self.tools or self.metric or self.decisions or self.notes
        )

    def headline(self) -> str:
        """One line: what happened in this step."""
        if self.kind != "iteration":
            return self.summary
        head = f"Iteration {self.iteration}" + (" (continued)" if self.continued else "")
        if self.tools:
            return f"{head}: called {', '.join(dict.fromkeys(t.tool for t in self.tools))}"
        if self.planned:
            return f"{head}: asked for {', '.join(dict.fromkeys(self.planned))} (not run)"
        if self.asked_model:
            return f"{head}: answered without a tool call"
        return f"{head}: no model call"

    def details(self) -> list[str]:
        """The lines under the headline, plain text, in reading order."""
        return [
            f"{p.call_text()} → {p.outcome_text()}" if isinstance(p, ToolStep) else p
            for p in self.parts('"', '"')
        ]

    def parts(self, open_quote: str = "“", close_quote: str = "”") -> list[str | ToolStep]:
        """The details in the order they happened: the metric, what the model said, notes
        from before the first tool call (approvals), the tool calls, later notes, the policies."""
        out: list[str | ToolStep] = [f"goal metric: {self.metric}"] if self.metric else []
        if self.said:
            out.append(f"model said: {open_quote}{self.said}{close_quote}")
        lead = len(self.notes) if self.notes_before_tools is None else self.notes_before_tools
        out += [*self.notes[:lead], *self.tools, *self.notes[lead:]]
        return out + [f"policy {d}" for d in self.decisions]


@dataclass
class Explanation:
    """Why a run stopped, what it tried, what to do next. Built by :func:`explain`.

    Attributes:
        status: the run's final status (a ``LoopStatus`` value) or :data:`INCOMPLETE`.
        reason: the specific cause, in words.
        recommended_action: what to do next.
        resumable: whether the run can be resumed; ``None`` when unknown (incomplete).
        goal: the run's goal.
        model: the model it used (``provider/model``).
        limits: the ceilings, as the run announced them.
        tools: the tools it was offered.
        usage: tokens, calls, cost and duration.
        iterations: iterations in which the model was asked.
        signals: regressions, repeats, invalid calls, policy stops, approvals, problems.
        chain: the decision chain, oldest first; its last entry is the stop (or the last event).
        notes: remarks about the trace itself (a skipped cut-off line ...).
        run: which run of the file this is, from 1.
        runs: how many runs the file holds.
        last_event: the run's last event, as recorded.
    """

    status: str = INCOMPLETE
    reason: str = ""
    recommended_action: str = ""
    resumable: bool | None = None
    goal: str = ""
    model: str = ""
    limits: str = ""
    tools: list[str] = field(default_factory=list)
    usage: RunUsage = field(default_factory=RunUsage)
    iterations: int = 0
    signals: list[Signal] = field(default_factory=list)
    chain: list[ChainEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run: int = 1
    runs: int = 1
    last_event: dict[str, Any] = field(default_factory=dict)

    def grouped_signals(self) -> list[tuple[str, str, list[int]]]:
        """Signals with the same kind and text merged: ``(kind, text, iterations)``, first seen first."""
        groups: dict[tuple[str, str], list[int]] = {}
        for s in self.signals:
            at = groups.setdefault((s.kind, s.text), [])
            if s.iteration is not None and s.iteration not in at:
                at.append(s.iteration)
        return [(kind, text, at) for (kind, text), at in groups.items()]

    @property
    def cost_usd(self) -> float | None:
        """USD over the run (``usage.cost_usd``); ``None`` when some call had no price."""
        return self.usage.cost_usd

    def usage_rows(self) -> list[tuple[str, str]]:
        """The usage as ``(label, value)`` rows for a table: iterations, calls, tokens, cost, duration."""
        u = self.usage
        cost = "unknown (the model has no price)" if u.cost_usd is None else f"${u.cost_usd:.4f}"
        failed = f" ({u.failed_tool_calls} failed)" if u.failed_tool_calls else ""
        return [
            ("iterations", str(self.iterations)),
            ("model calls", str(u.llm_calls)),
            ("input tokens", f"{u.input_tokens:,}"),
            ("output tokens", f"{u.output_tokens:,}"),
            ("tool calls", f"{u.tool_calls}{failed}"),
            ("cost", cost),
            ("duration", f"{u.duration_s:.2f} s"),
        ]

    def to_markdown(self) -> str:
        """The explanation as Markdown: the stop, usage (a table), signals, the numbered chain."""
        return to_markdown(self)
