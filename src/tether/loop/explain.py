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

This module reads one run's events into an :class:`Explanation`. The file is read by
:mod:`tether.loop.trace_read`, the values are defined in :mod:`tether.loop.explanation`,
and :mod:`tether.loop.explain_render` writes them as Markdown; every public name of those
is importable from here as well.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tether._text import one_line
from tether.errors import ConfigError
from tether.loop.explanation import (
    INCOMPLETE,
    ChainEntry,
    Explanation,
    RunUsage,
    Signal,
    ToolStep,
)
from tether.loop.trace import tool_error_line
from tether.loop.trace_read import TRUNCATED_LINE, load_trace, split_runs

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
    "split_runs",
]

_INVALID = ("invalid_arguments", "unknown_tool")
_NOT_RESTARTING = ("loop.start", "loop.resumed", TRUNCATED_LINE)
_PLAIN_FIELDS = ("seq", "t", "event", "iteration")
_ANNOUNCED = ("seq", "t", "event", "iteration", "goal", "model", "limits", "tools")


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
            after = f"; failing: {one_line(failing, 120)}" if failing else ""
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
        text = one_line(str(e.get("text") or ""), 200)
        if text:
            entry.said = one_line(f"{entry.said} {text}", 200) if entry.said else text

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


def _pairs(fields: Iterable[tuple[str, Any]]) -> str:
    return ", ".join(
        f"{k}={one_line(json.dumps(v, ensure_ascii=False, default=str), 90, middle=True)}"
        for k, v in fields
    )


def _args(arguments: Any, limit: int = 160) -> str:
    """``path="a.txt", n=3`` for a dict; the raw text, quoted, for arguments that did not parse."""
    if isinstance(arguments, dict):
        return one_line(_pairs(arguments.items()), limit)
    if arguments is None:
        return ""
    return one_line(repr(arguments), limit)


def _error_detail(content: Any) -> str:
    """The message of a tool error, one line."""
    return one_line(tool_error_line(content), 160)


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
    return one_line(_pairs((k, v) for k, v in e.items() if k not in _PLAIN_FIELDS), 240)


def _describe(e: dict[str, Any]) -> str:
    if not e:
        return "none"
    at = f" (iteration {e['iteration']})" if "iteration" in e else ""
    seq = f"#{e['seq']} " if "seq" in e else ""
    fields = _fields(e)
    return f"{seq}{e.get('event')}{at}" + (f": {fields}" if fields else "")
