"""The mutable state of one governed run, in one dataclass.

Modelled on pydantic-ai's ``GraphAgentState`` (``pydantic_ai/_agent_graph.py``): every
value a run changes as it goes lives here, and nowhere else. The steps
(:mod:`tether.loop.steps`), the approval gate (:mod:`tether.loop.gate`) and persistence
(:mod:`tether.loop.persist`) take a :class:`RunState` and the run's
:class:`~tether.loop.services.Services`; :class:`~tether.loop.core.Loop` builds both and
drives the steps. What the journal must append at the next save is collected in
:attr:`RunState.added`, so one save writes one record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tether.llm.types import Message, SystemMessage, ToolDefinition, Usage
from tether.loop.progress import IterationReport, MetricSnapshot
from tether.loop.state import KEEP_REPORTS, KEEP_SEEN, KEEP_SUMMARIES, LoopState

__all__ = ["RunState"]


def _no_additions() -> dict[str, list[Any]]:
    return {name: [] for name in LoopState.APPENDED}


@dataclass
class RunState:
    """Everything a run changes, from its first step to its end (and across a resume)."""

    iteration: int = 0
    """Iterations finished."""
    usage: Usage = field(default_factory=Usage)
    """Tokens spent so far (over resumed sessions, and work :meth:`charge`-d from elsewhere)."""
    cost_usd: float | None = 0.0
    """USD spent so far; ``None`` once a call had no price and no USD ceiling is set."""
    tool_calls_made: int = 0
    """Tool calls run so far (exit calls not counted)."""
    messages: list[Message] = field(default_factory=list)
    """The current iteration's messages (its prompt, the model's turns, tool results)."""
    history: list[list[Message]] = field(default_factory=list)
    """Finished iterations not yet summarized, oldest first."""
    summaries: list[str] = field(default_factory=list)
    """The most recent summary lines (one per iteration that left the verbatim window)."""
    summarized: int = 0
    """Iterations summarized over the whole run."""
    reports: list[IterationReport] = field(default_factory=list)
    """The most recent judged iterations."""
    signals: list[str] = field(default_factory=list)
    """What evaluation noticed (regressions ...)."""
    seen: dict[str, None] = field(default_factory=dict)
    """Fingerprints of actions taken: an ordered set, the oldest forgotten first."""
    previous: MetricSnapshot | None = None
    """The last goal measurement."""
    pending: IterationReport | None = None
    """The iteration waiting for the next observation to be judged."""
    notes: list[str] = field(default_factory=list)
    """Policy messages for the next prompt."""
    plan_invalid_streak: int = 0
    """Iterations in a row whose invalid calls used up their corrections."""
    last_text: str = ""
    """The model's last non-empty text."""
    observation_text: str = ""
    """The last observation as text (prompt and approval fingerprints)."""
    pending_approval: dict[str, Any] | None = None
    """The paused batch awaiting a decision (token, calls, messages ...)."""
    approval_answer: dict[str, Any] | None = None
    """The answer given to :attr:`pending_approval` before this session ran."""
    used_tokens: list[str] = field(default_factory=list)
    """Approval tokens consumed by this run."""
    started: float = 0.0
    """Clock reading (seconds) at which the run would have started had it never paused."""
    elapsed_before: float = 0.0
    """Seconds run in earlier sessions."""
    resumed: bool = False
    """This run continues a saved one."""
    system: SystemMessage | None = None
    """The system prompt, built once per session."""
    definitions: list[ToolDefinition] = field(default_factory=list)
    """The tools' definitions, as sent to the model."""
    added: dict[str, list[Any]] = field(default_factory=_no_additions)
    """Items appended since the last save, by journal list field."""

    def count(self, usage: Usage, cost_usd: float | None, *, usd_limited: bool) -> None:
        """Add one call's tokens and USD (``None``: unpriced; forgets the total unless a USD
        ceiling is set, in which case the call was refused earlier)."""
        self.usage.add(usage)
        if cost_usd is None:
            self.cost_usd = self.cost_usd if usd_limited else None
        elif self.cost_usd is not None:
            self.cost_usd += cost_usd

    def elapsed(self, now: float) -> float:
        """Seconds run so far (all sessions) at clock reading ``now``."""
        return now - self.started

    def remember(self, fingerprint: str) -> bool:
        """Note an action's fingerprint; ``True`` when it was seen before (a repeat)."""
        if fingerprint in self.seen:
            return True
        self.seen[fingerprint] = None
        self.added["seen"].append(fingerprint)
        if len(self.seen) > KEEP_SEEN:
            del self.seen[next(iter(self.seen))]
        return False

    def record_report(self, report: IterationReport) -> None:
        """Keep a judged iteration (the most recent ones) and signal a regression."""
        self.reports.append(report)
        del self.reports[:-KEEP_REPORTS]
        self.added["reports"].append(report.to_dict())
        if report.trend == "regressed":
            self.signal(f"iteration {report.index}: regressed")

    def signal(self, text: str) -> None:
        """Record something evaluation noticed."""
        self.signals.append(text)
        self.added["signals"].append(text)

    def add_summary(self, line: str) -> None:
        """Keep the summary line of the iteration that just left the verbatim window."""
        self.summarized += 1
        self.summaries.append(line)
        del self.summaries[:-KEEP_SUMMARIES]
        self.added["summaries"].append(line)

    def use_token(self, token: str) -> None:
        """Mark an approval token as consumed."""
        self.used_tokens.append(token)
        self.added["used_tokens"].append(token)

    def take_additions(self) -> dict[str, list[Any]]:
        """What was appended since the last save (and start collecting afresh)."""
        added, self.added = self.added, _no_additions()
        return added
