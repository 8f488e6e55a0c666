"""Why a governed run stopped, what it tried, and what to do next — read back from its trace.

::

    from tether.loop.explain import explain, load_trace

    report = explain(load_trace(".tether/traces/fix-tests.jsonl"))
    report.status, report.reason, report.recommended_action
    for entry in report.chain:       # one entry per iteration, then the stop
        print(entry.headline())
    print(report.to_markdown())      # for a ticket or a pull request

A trace file is appended to, so it may hold several runs: each ``loop.start``
opens one. A resumed run (``loop.resumed`` before its first iteration, with or
without its own ``loop.start``) continues the run it resumes, so the two parts
read as one. A run whose trace has no final ``loop.end`` is still going or was
killed: its status is :data:`INCOMPLETE` and the last event is shown. Events
this module does not know (new ones, regulator events) appear in the chain
as they are, so a newer trace never breaks an older reader.

Nothing is shown that is not in the trace (which is redacted when written).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.errors import ConfigError
from tether.loop.trace import tool_error_line

__all__ = [
    "INCOMPLETE",
    "TRUNCATED_LINE",
    "ChainEntry",
    "Explanation",
    "RunUsage",
    "Signal",
    "ToolStep",
    "explain",
    "load_trace",
]

INCOMPLETE = "RUNNING/INCOMPLETE"
"""The status of a run whose trace has no final ``loop.end`` (still going, or killed)."""

TRUNCATED_LINE = "trace.truncated_line"
"""The event :func:`load_trace` puts in place of a cut-off last line (fields ``line``, ``text``)."""

_INVALID = ("invalid_arguments", "unknown_tool")
_NOT_RESTARTING = ("loop.start", "loop.resumed", TRUNCATED_LINE)
_PLAIN_FIELDS = ("seq", "t", "event", "iteration")
_ANNOUNCED = ("seq", "t", "event", "iteration", "goal", "model", "limits", "tools")


# -- reading the file -------------------------------------------------------------------------------


def load_trace(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL trace written by :class:`~tether.loop.Trace`.

    A last line cut off mid-write (no newline at its end, as a killed writer
    leaves it) is not an error: it is replaced by a :data:`TRUNCATED_LINE`
    event, which :func:`explain` reports as a note. Blank lines are skipped.

    Args:
        path: the ``.jsonl`` file.

    Returns:
        The events in file order, each a dict with at least ``"event"``.

    Raises:
        ConfigError: the file cannot be read, or a line (named by number) is not
            a JSON object with an ``"event"`` field.
    """
    where = Path(path)
    try:
        data = where.read_bytes()
    except OSError as exc:
        raise ConfigError(f"trace {where}: cannot read ({exc.strerror or exc})") from None
    lines = data.split(b"\n")
    last = len(lines) if data.endswith(b"\n") else len(lines) - 1  # index of an unterminated line
    events: list[dict[str, Any]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            events.append(_parse_line(raw))
        except ValueError as exc:
            if number - 1 == last:
                text = raw.decode("utf-8", "replace")
                events.append({"event": TRUNCATED_LINE, "line": number, "text": _short(text, 80)})
                break
            raise ConfigError(f"trace {where}: line {number}: {exc}") from None
    return events


def _parse_line(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ValueError(f"a JSON {type(value).__name__}, not an event object")
    if not isinstance(value.get("event"), str):
        raise ValueError("no 'event' field: is this a tether loop trace?")
    return value


def split_runs(events: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group events into runs: a ``loop.start`` opens one, a resume continues the previous.

    A run opened by ``loop.start`` that says ``loop.resumed`` before its first
    ``iteration.start`` is merged into the run before it.
    """
    runs: list[list[dict[str, Any]]] = []
    fresh = False  # the latest run was opened by loop.start and has no iteration yet
    for event in events:
        name = event.get("event")
        if name == "loop.start" or not runs:
            runs.append([])
            fresh = name == "loop.start"
        elif name == "loop.resumed" and fresh and len(runs) > 1:
            runs[-2].extend(runs.pop())
            fresh = False
        elif name == "iteration.start":
            fresh = False
        runs[-1].append(event)
    return runs


# -- the explanation --------------------------------------------------------------------------------


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
        return _markdown(self)


def explain(events: Iterable[dict[str, Any]], *, run: int = -1) -> Explanation:
    """Explain one run of a trace.

    Args:
        events: trace events in order (from :func:`load_trace`, or ``Trace.events``).
        run: which run, numbered from 1 in file order; negative counts from the end
            (``-1``, the default: the last run).

    Returns:
        The :class:`Explanation`.

    Raises:
        ConfigError: the trace holds no event, or no run numbered ``run``.
    """
    runs = split_runs(events)
    if not runs:
        raise ConfigError("the trace holds no event: nothing to explain")
    if run == 0 or not -len(runs) <= run <= len(runs):
        raise ConfigError(
            f"the trace holds {len(runs)} run(s); run {run} does not exist "
            f"(use 1..{len(runs)}, or -1 for the last)"
        )
    number = run if run > 0 else len(runs) + run + 1
    reader = _Reader(Explanation(run=number, runs=len(runs)))
    for event in runs[number - 1]:
        reader.feed(event)
    return reader.finish()


# -- building it -----------------------------------------------------------------------------------


class _Reader:
    """Feeds one run's events into an :class:`Explanation`."""

    def __init__(self, x: Explanation) -> None:
        self.x = x
        self.end: dict[str, Any] | None = None  # the latest loop.end still in force
        self.stopped: dict[str, Any] | None = None  # the latest loop.end, even if resumed since
        self.segment_tokens = 0  # tokens since the latest loop.start / loop.resumed
        self.first_t: float | None = None
        self.last_seq: int | None = None

    def feed(self, event: dict[str, Any]) -> None:
        name = str(event.get("event"))
        if name != TRUNCATED_LINE:
            self._timing(event)
            self.x.last_event = event
        if self.end is not None and name not in _NOT_RESTARTING:
            self._signal("problem", f"event {name} after loop.end", event)
        handler = getattr(self, "_on_" + name.replace(".", "_"), None)
        if handler is None:
            self._other(name, event)
        else:
            handler(event)

    def _timing(self, event: dict[str, Any]) -> None:
        t, seq = event.get("t"), event.get("seq")
        if isinstance(t, int | float):
            self.first_t = t if self.first_t is None else self.first_t
            self.x.usage.duration_s = round(t - self.first_t, 6)
        if isinstance(seq, int):
            if self.last_seq is not None and seq not in (1, self.last_seq + 1):
                self._signal(
                    "problem",
                    f"event numbers jump from {self.last_seq} to {seq} "
                    "(events missing, or two runs writing one file)",
                    event,
                )
            self.last_seq = seq

    # events that shape the run

    def _on_loop_start(self, e: dict[str, Any]) -> None:
        x = self.x
        x.goal = x.goal or str(e.get("goal", ""))
        x.model = str(e.get("model", x.model))
        x.limits = str(e.get("limits", x.limits))
        x.tools = [str(t) for t in e.get("tools", x.tools) or []]
        self.end, self.segment_tokens = None, 0

    def _on_loop_resumed(self, e: dict[str, Any]) -> None:
        self._on_loop_start(e)  # a resumed run announces its goal, model and limits again
        before = f" after {self.stopped.get('status')}" if self.stopped is not None else ""
        done = e.get("iteration")
        at = f", at iteration {done + 1}" if isinstance(done, int) else ""
        extra = _fields({k: v for k, v in e.items() if k not in _ANNOUNCED})
        summary = f"Resumed{before}{at}" + (f" ({extra})" if extra else "")
        self.x.chain.append(ChainEntry("resumed", summary=summary))

    def _on_loop_end(self, e: dict[str, Any]) -> None:
        self.end = self.stopped = e
        entry = ChainEntry("stop", summary=f"Stopped: {e.get('status')}: {e.get('reason', '')}")
        if e.get("recommended_action"):
            resumable = " (resumable)" if e.get("resumable") else ""
            entry.notes.append(f"next: {e['recommended_action']}{resumable}")
        self.x.chain.append(entry)
        errors = e.get("callback_errors")
        for error in errors if isinstance(errors, list) else []:
            self._signal("problem", f"an on_event callback raised {error}", e)

    def _on_iteration_start(self, e: dict[str, Any]) -> None:
        self.x.chain.append(ChainEntry("iteration", iteration=_int(e.get("iteration"))))

    def _on_iteration_end(self, e: dict[str, Any]) -> None:
        if e.get("exit"):
            self._entry(e).notes.append(f"exit tool {e['exit']} succeeded: the run ends")

    def _on_metric(self, e: dict[str, Any]) -> None:
        trend, detail = e.get("trend", ""), e.get("detail", "")
        text = f"{_value(e.get('value'))}" + (f" ({detail})" if detail else "")
        self._entry(e).metric = f"{text}, {trend}" if trend else text
        if trend == "regressed":
            failing = ", ".join(str(f) for f in e.get("failing", []) or [])
            after = f"; failing: {_short(failing, 120)}" if failing else ""
            self._signal("regression", f"the goal metric regressed to {text}{after}", e)

    def _on_llm_call(self, e: dict[str, Any]) -> None:
        u, entry = self.x.usage, self._entry(e)
        tokens = _int(e.get("input_tokens")) + _int(e.get("output_tokens"))
        u.input_tokens += _int(e.get("input_tokens"))
        u.output_tokens += _int(e.get("output_tokens"))
        self.segment_tokens += tokens
        u.llm_calls += 1
        cost = e.get("cost_usd")
        u.cost_usd = None if u.cost_usd is None or cost is None else u.cost_usd + float(cost)
        entry.asked_model = True
        entry.planned += [str(name) for name in e.get("tool_calls") or []]
        text = _short(str(e.get("text") or ""), 200)
        if text:
            entry.said = _short(f"{entry.said} {text}", 200) if entry.said else text

    def _on_llm_continue(self, e: dict[str, Any]) -> None:
        self._entry(e).notes.append("the answer was cut off by the output limit; asked to continue")
        self._signal("truncated_output", "a model answer was cut off by the output limit", e)

    def _on_tool_call(self, e: dict[str, Any]) -> None:
        step = ToolStep(
            str(e.get("tool")),
            str(e.get("call_id", "")),
            _args(e.get("arguments")),
            repeated=bool(e.get("repeated")),
        )
        entry = self._entry(e)
        if entry.notes_before_tools is None:
            entry.notes_before_tools = len(entry.notes)
        entry.tools.append(step)
        self.x.usage.tool_calls += 1
        if step.repeated:
            self._signal("repeated_action", f"{step.call_text()} repeats an earlier call", e)

    def _on_tool_result(self, e: dict[str, Any]) -> None:
        entry, call_id = self._entry(e), str(e.get("call_id", ""))
        step = next((s for s in entry.tools if s.call_id == call_id and s.status is None), None)
        if step is None:  # a result whose call is not in the trace
            step = ToolStep(str(e.get("tool")), call_id, "?")
            entry.tools.append(step)
        step.status = str(e.get("status", "?"))
        step.truncated = bool(e.get("truncated"))
        step.duration_s = (
            e.get("duration_s") if isinstance(e.get("duration_s"), int | float) else None
        )
        if step.status != "ok":
            self.x.usage.failed_tool_calls += 1
            step.detail = _error_detail(e.get("content"))
        if step.status not in ("ok", "approval_denied"):  # a denial is an approval signal already
            kind = "invalid_call" if step.status in _INVALID else "tool_error"
            detail = f": {step.detail}" if step.detail else ""
            self._signal(kind, f"{step.call_text()} → {step.status}{detail}", e)
        if step.truncated:
            self._signal("truncated_output", f"the output of {step.call_text()} was truncated", e)

    def _on_iteration_plan_invalid(self, e: dict[str, Any]) -> None:
        streak = e.get("streak")
        self._entry(e).notes.append(
            f"invalid tool calls used up their corrections (streak {streak})"
        )
        self._signal(
            "invalid_call", f"invalid tool calls used up their corrections (streak {streak})", e
        )

    def _on_policy_decision(self, e: dict[str, Any]) -> None:
        policy, reason = e.get("policy", "?"), str(e.get("reason") or "")
        if e.get("stop"):
            text = f"{policy}: stop with {e.get('status')}" + (f": {reason}" if reason else "")
            self._signal("policy_stop", text, e)
        else:
            text = f"{policy}: go on" + (f" ({reason})" if reason else " (with a warning)")
        self._entry(e).decisions.append(text)

    def _on_trace_truncated_line(self, e: dict[str, Any]) -> None:
        note = (
            f"line {e.get('line')} of the trace was cut off mid-write (the writer was killed?) "
            f"and was skipped: {e.get('text', '')}"
        )
        self.x.notes.append(note)
        self._signal("problem", note, None)

    def _other(self, name: str, e: dict[str, Any]) -> None:
        """Approvals, saved state, regulator decisions, and events not known yet."""
        text = f"{name}: {_fields(e)}".rstrip(": ")
        if name.startswith("approval."):
            text = _approval(name.partition(".")[2], e)
            self._signal("approval", text, e)
        elif "error" in name or "callback" in name:
            self._signal("problem", text, e)
        entry = self._entry(e) if isinstance(e.get("iteration"), int) else self._find(e)
        if entry is None:
            self.x.chain.append(ChainEntry("event", summary=text))
        else:
            entry.notes.append(text)

    def _on_model_claim(self, e: dict[str, Any]) -> None:
        self._entry(e).notes.append("the model says the goal is reached; the goal metric decides")

    # helpers

    def _find(self, e: dict[str, Any]) -> ChainEntry | None:
        """The iteration entry ``e`` belongs to: by its ``iteration`` field, else the latest
        (never across a stop or a resume, after which iteration numbers may restart)."""
        wanted = e.get("iteration")
        for entry in reversed(self.x.chain):
            if entry.kind == "iteration" and (wanted is None or entry.iteration == wanted):
                return entry
            if entry.kind == "resumed" or (entry.kind == "stop" and wanted is None):
                return None
        return None

    def _entry(self, e: dict[str, Any]) -> ChainEntry:
        """:meth:`_find`, or a new iteration entry when there is none."""
        entry = self._find(e)
        if entry is None:
            wanted = e.get("iteration")
            entry = ChainEntry("iteration", iteration=wanted if isinstance(wanted, int) else None)
            entry.continued = any(
                c.kind == "iteration" and c.iteration == wanted for c in self.x.chain
            )
            self.x.chain.append(entry)
        return entry

    def _signal(self, kind: str, text: str, e: dict[str, Any] | None) -> None:
        iteration = e.get("iteration") if e is not None else None
        self.x.signals.append(Signal(kind, text, iteration if isinstance(iteration, int) else None))

    def finish(self) -> Explanation:
        x = self.x
        x.chain = [
            c for c in x.chain if not c.empty()
        ]  # e.g. a pass that only checked the ceilings
        x.iterations = sum(1 for c in x.chain if c.kind == "iteration" and c.asked_model)
        if self.end is None:
            x.status, x.resumable = INCOMPLETE, None
            last = x.last_event
            x.reason = (
                "the trace ends without loop.end: the run is still going, or its process was "
                f"killed; last event: {_describe(last)}"
            )
            x.recommended_action = (
                "if the process is still running, follow the trace (tail -f); "
                "if it is gone, resume the run from its saved state or run it again"
            )
            x.chain.append(
                ChainEntry("incomplete", summary=f"No stop recorded; last event: {_describe(last)}")
            )
            return x
        end = self.end
        x.status = str(end.get("status", "?"))
        x.reason = str(end.get("reason", ""))
        x.recommended_action = str(end.get("recommended_action", ""))
        x.resumable = bool(end.get("resumable")) if "resumable" in end else None
        reported = _int(end.get("input_tokens")) + _int(end.get("output_tokens"))
        if "input_tokens" in end and reported not in (x.usage.total_tokens, self.segment_tokens):
            x.notes.append(
                f"loop.end reports {reported:,} tokens; the llm.call events add up to "
                f"{x.usage.total_tokens:,}"
            )
        return x


# -- small text helpers ----------------------------------------------------------------------------


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _short(text: str, limit: int) -> str:
    """``text`` on one line, at most ``limit`` characters (an ellipsis marks a cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _middle(text: str, limit: int) -> str:
    """``text`` on one line; when too long its middle is cut (paths keep their file names)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    head = (limit - 1) // 3
    return flat[:head] + "…" + flat[len(flat) - (limit - 1 - head) :]


def _pairs(fields: Iterable[tuple[str, Any]]) -> str:
    return ", ".join(
        f"{k}={_middle(json.dumps(v, ensure_ascii=False, default=str), 90)}" for k, v in fields
    )


def _args(arguments: Any, limit: int = 160) -> str:
    """``path="a.txt", n=3`` for a dict; the raw text, quoted, for arguments that did not parse."""
    if isinstance(arguments, dict):
        return _short(_pairs(arguments.items()), limit)
    if arguments is None:
        return ""
    return _short(repr(arguments), limit)


def _error_detail(content: Any) -> str:
    """The message of a tool error, one line."""
    return _short(tool_error_line(content), 160)


def _approval(outcome: str, e: dict[str, Any]) -> str:
    """``approval granted for run_command(command="make"): why (note) [token apv_...]``."""
    what = str(e.get("tool") or e.get("tools") or "")
    if what and "arguments" in e:
        what = f"{what}({_args(e.get('arguments'))})"
    text = f"approval {outcome}" + (f" for {what}" if what else "")
    text += f": {e['reason']}" if e.get("reason") else ""
    text += f" ({e['note']})" if e.get("note") else ""
    return text + (f" [token {e['token']}]" if e.get("token") else "")


def _fields(e: dict[str, Any]) -> str:
    """An event's own fields as ``k=v`` pairs, each shortened."""
    return _short(_pairs((k, v) for k, v in e.items() if k not in _PLAIN_FIELDS), 240)


def _describe(e: dict[str, Any]) -> str:
    if not e:
        return "none"
    at = f" (iteration {e['iteration']})" if "iteration" in e else ""
    seq = f"#{e['seq']} " if "seq" in e else ""
    fields = _fields(e)
    return f"{seq}{e.get('event')}{at}" + (f": {fields}" if fields else "")


# -- Markdown ----------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"[\\`*<>|]|\](?=[(\[])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_SIGNAL_TITLES = {
    "regression": "regression",
    "repeated_action": "repeated action",
    "invalid_call": "invalid call",
    "tool_error": "tool error",
    "policy_stop": "policy stop",
    "approval": "approval",
    "truncated_output": "truncated output",
    "problem": "trace problem",
}


def _md(text: str) -> str:
    """One line of free text from the trace, escaped so Markdown shows it as written
    (no emphasis, code, links or HTML made of it; a ``_`` inside a word and brackets that
    make no link are left alone)."""
    return _MD_SPECIAL.sub(r"\\\g<0>", text)


def _code(text: str) -> str:
    """An inline code span that survives backticks inside ``text``."""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _markdown(x: Explanation) -> str:
    resumable = {True: "yes", False: "no", None: "unknown"}[x.resumable]
    out = [
        f"# Run explained: {x.status}",
        "",
        f"- **Goal:** {_md(_short(x.goal, 400)) or '(not recorded)'}",
        f"- **Why it stopped:** {_md(x.reason)}",
        f"- **What to do next:** {_md(x.recommended_action)}",
        f"- **Resumable:** {resumable}",
        f"- **Model:** {_md(x.model or '(not recorded)')}; **limits:** {_md(x.limits or '(not recorded)')}",
        f"- **Run:** {x.run} of {x.runs} in this trace",
        "",
        "## Usage",
        "",
        "| | |",
        "| --- | --: |",
        *(f"| {name} | {_md(value)} |" for name, value in x.usage_rows()),
    ]
    if x.signals:
        out += ["", "## Signals", ""]
        for kind, text, iterations in x.grouped_signals():
            out.append(f"- **{_SIGNAL_TITLES.get(kind, kind)}**{_at(iterations)}: {_md(text)}")
    out += ["", "## Decision chain", ""]
    for number, entry in enumerate(x.chain, start=1):
        out.append(f"{number}. **{_md(entry.headline())}**")
        out += [f"   - {line}" for line in _entry_lines(entry)]
    if x.notes:
        out += ["", "## Notes on the trace", "", *(f"- {_md(n)}" for n in x.notes)]
    return "\n".join(out) + "\n"


def _entry_lines(entry: ChainEntry) -> list[str]:
    return [
        f"{_code(p.call_text())} → {_md(p.outcome_text())}" if isinstance(p, ToolStep) else _md(p)
        for p in entry.parts()
    ]


def _at(iterations: list[int]) -> str:
    """`` (iteration 2)``, `` (iterations 2, 3, 4)``, or nothing."""
    if not iterations:
        return ""
    plural = "s" if len(iterations) > 1 else ""
    return f" (iteration{plural} {', '.join(map(str, iterations))})"
