"""OpenTelemetry spans for governed runs, made from the loop's trace events.

::

    from opentelemetry.sdk.trace import TracerProvider
    from tether.loop import Loop
    from tether.loop.otel import SpanRecorder

    spans = SpanRecorder(tracer_provider=TracerProvider())   # or the global provider
    Loop("make the tests pass", tools, llm, on_event=spans).run()
    spans.close()                                            # ends what a crash left open

The span tree of one run::

    tether.loop                       goal, model, status, reason, tokens
    └── tether.iteration              one per iteration (metric and policy decisions as events)
        ├── tether.llm.call           gen_ai.* attributes: model, max_tokens, usage, finish reason
        └── tether.tool               from tool.call to tool.result; status ERROR when it failed

Timestamps come from the events' ``t`` (wall-clock seconds), so spans keep the
run's real timing even when built after the fact. An ``llm.call`` event is
written when the call returns: its span starts ``duration_s`` earlier (zero
length without that field). Other events (approvals, saved state, regulator
decisions, events not known yet) become span events on the innermost open span.

``opentelemetry-api`` is optional (``pip install 'tether[otel]'``): without it
the recorder does nothing. It is imported when a recorder is made, never by
``import tether.loop``. Spans are not made current, so they nest under the
span that was current when the run started and never capture other spans.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from tether.loop.trace import tool_error_line

__all__ = ["SpanRecorder"]

_TEXT_LIMIT = 1000
_GOAL_LIMIT = 200
_PAUSED = ("SUCCESS", "AWAITING_APPROVAL", "ABORTED")  # ends that are not errors


def _load_api() -> Any:
    """The ``opentelemetry.trace`` module, or ``None`` when it cannot be imported."""
    try:
        importlib.import_module("opentelemetry")  # first: a blocked package blocks its modules
        return importlib.import_module("opentelemetry.trace")
    except ImportError:
        return None


class SpanRecorder:
    """An ``on_event`` sink turning a loop's events into OpenTelemetry spans.

    Args:
        tracer_provider: the ``TracerProvider`` to make spans with; default: the global one
            (``opentelemetry.trace.get_tracer_provider()``).
        clock: wall-clock seconds, for :meth:`close` (injectable).

    Call it with each event dict (``{"seq", "t", "event", ...}``), as ``Trace`` hands them to
    ``on_event``. It never raises: a failure inside is appended to :attr:`errors` and the
    run goes on. Without ``opentelemetry-api`` installed it is a no-op (:attr:`enabled` False).
    """

    def __init__(self, tracer_provider: Any = None, *, clock: Any = time.time) -> None:
        self._api = _load_api()
        self._clock = clock
        self._tracer: Any = None
        if self._api is not None:
            from tether import __version__

            provider = tracer_provider or self._api.get_tracer_provider()
            self._tracer = provider.get_tracer("tether", __version__)
        self._lock = threading.Lock()
        self._root: Any = None
        self._iteration: Any = None
        self._iteration_number: int | None = None
        self._iteration_done: int | None = None  # when iteration.end came (the span stays open
        # for the policy decisions that follow it, and ends at the last of them)
        self._tools: dict[str, Any] = {}
        self.errors: list[str] = []
        """Exceptions met while recording (``"TypeError: ..."``); recording goes on."""

    @classmethod
    def if_available(cls, tracer_provider: Any = None) -> SpanRecorder | None:
        """A recorder when ``opentelemetry-api`` can be imported, else ``None``."""
        recorder = cls(tracer_provider)
        return recorder if recorder.enabled else None

    @property
    def enabled(self) -> bool:
        """True when spans are made (``opentelemetry-api`` is importable)."""
        return self._tracer is not None

    def __call__(self, event: Mapping[str, Any]) -> None:
        """Record one trace event (see the module docstring for the spans it makes)."""
        if self._tracer is None:
            return
        with self._lock:
            try:
                self._handle(event)
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def close(self, end_time_s: float | None = None) -> None:
        """End every span still open with status ERROR ``"incomplete"`` (idempotent).

        Args:
            end_time_s: wall-clock seconds to end them at; default: now.
        """
        if self._tracer is None:
            return
        with self._lock:
            end = _ns(end_time_s if end_time_s is not None else self._clock())
            self._end_all(end, "incomplete")

    # -- events ------------------------------------------------------------------------------------

    def _handle(self, e: Mapping[str, Any]) -> None:
        name = str(e.get("event"))
        at = _ns(e.get("t", self._clock()))
        handler = getattr(self, "_on_" + name.replace(".", "_"), None)
        if handler is not None:
            handler(e, at)
        elif self._root is not None:
            self._innermost().add_event(name, _attributes(e), timestamp=at)

    def _on_loop_start(self, e: Mapping[str, Any], at: int) -> None:
        self._end_all(at, "incomplete")  # a run that never ended, followed by a new one
        attributes = {
            "tether.goal": _text(e.get("goal"), _GOAL_LIMIT),
            "tether.model": _text(e.get("model")),
            "gen_ai.request.model": _text(e.get("model")),
            "tether.limits": _text(e.get("limits")),
        }
        self._root = self._tracer.start_span("tether.loop", attributes=attributes, start_time=at)

    def _on_loop_resumed(self, e: Mapping[str, Any], at: int) -> None:
        """A resumed run (a new process, usually) is a new ``tether.loop`` span marked resumed;
        right after a ``loop.start`` that has not begun, it only marks that span."""
        if self._root is None or self._iteration_number is not None:
            self._on_loop_start(e, at)
        self._root.set_attribute("tether.resumed", True)
        if isinstance(e.get("iteration"), int):
            self._root.set_attribute("tether.resumed_after_iteration", e["iteration"])

    def _on_loop_end(self, e: Mapping[str, Any], at: int) -> None:
        if self._root is None:
            return
        status, reason = str(e.get("status", "")), str(e.get("reason", ""))
        self._root.set_attributes(
            {
                "tether.status": status,
                "tether.reason": _text(reason),
                "tether.resumable": bool(e.get("resumable")),
                "tether.recommended_action": _text(e.get("recommended_action")),
                "tether.iterations": int(e.get("iterations") or 0),
                "gen_ai.usage.input_tokens": int(e.get("input_tokens") or 0),
                "gen_ai.usage.output_tokens": int(e.get("output_tokens") or 0),
            }
        )
        if status == "SUCCESS":
            self._root.set_status(self._api.Status(self._api.StatusCode.OK))
        elif status not in _PAUSED:
            self._root.set_status(
                self._api.Status(self._api.StatusCode.ERROR, f"{status}: {reason}")
            )
        for span in self._tools.values():
            _fail(self._api, span, "no tool result before the run ended", at)
        self._tools.clear()
        self._finish_iteration(at)
        self._root.end(end_time=at)
        self._root = self._iteration_number = None

    def _on_iteration_start(self, e: Mapping[str, Any], at: int) -> None:
        if self._root is None:
            return
        self._finish_iteration(at)
        number = int(e.get("iteration") or 0)
        self._iteration = self._start(
            "tether.iteration", self._root, at, {"tether.iteration": number}
        )
        self._iteration_number = number

    def _on_iteration_end(self, e: Mapping[str, Any], at: int) -> None:
        if self._iteration is not None:
            self._iteration.set_attributes(_attributes(e))
            self._iteration_done = at

    def _on_llm_call(self, e: Mapping[str, Any], at: int) -> None:
        if self._root is None:
            return
        duration = e.get("duration_s")
        start = at - _ns(duration) if isinstance(duration, int | float) and duration > 0 else at
        model = _text(e.get("model"))
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "gen_ai.provider.name": model.partition("/")[0] if "/" in model else model,
            "gen_ai.request.max_tokens": int(e.get("max_tokens") or 0),
            "gen_ai.usage.input_tokens": int(e.get("input_tokens") or 0),
            "gen_ai.usage.output_tokens": int(e.get("output_tokens") or 0),
            "gen_ai.response.finish_reasons": [_text(e.get("finish"))],
            "tether.estimated_input_tokens": int(e.get("estimated_input") or 0),
            "tether.tool_calls": [str(c) for c in e.get("tool_calls") or []],
        }
        if isinstance(e.get("cost_usd"), int | float):
            attributes["tether.cost_usd"] = float(e["cost_usd"])
        span = self._start("tether.llm.call", self._innermost(), start, attributes)
        span.end(end_time=at)

    def _on_tool_call(self, e: Mapping[str, Any], at: int) -> None:
        if self._root is None:
            return
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": _text(e.get("tool")),
            "gen_ai.tool.call.id": _text(e.get("call_id")),
            "tether.tool.arguments": _text(e.get("arguments")),
            "tether.tool.repeated": bool(e.get("repeated")),
        }
        self._tools[str(e.get("call_id"))] = self._start(
            "tether.tool", self._innermost(), at, attributes
        )

    def _on_tool_result(self, e: Mapping[str, Any], at: int) -> None:
        span = self._tools.pop(str(e.get("call_id")), None)
        if span is None:
            return
        status = str(e.get("status", ""))
        span.set_attributes(
            {
                "tether.tool.status": status,
                "tether.tool.truncated": bool(e.get("truncated")),
                "tether.tool.duration_s": float(e.get("duration_s") or 0.0),
            }
        )
        if status == "ok":
            span.end(end_time=at)
        else:
            _fail(self._api, span, f"{status}: {_error_message(e.get('content'))}", at)

    def _on_metric(self, e: Mapping[str, Any], at: int) -> None:
        if self._root is not None:
            self._innermost().add_event("metric", _attributes(e), timestamp=at)

    def _on_policy_decision(self, e: Mapping[str, Any], at: int) -> None:
        if self._root is None:
            return
        same = self._iteration is not None and e.get("iteration") == self._iteration_number
        target = self._iteration if same else self._root
        target.add_event("policy.decision", _attributes(e), timestamp=at)
        if same and self._iteration_done is not None:
            self._iteration_done = at

    # -- helpers -----------------------------------------------------------------------------------

    def _start(self, name: str, parent: Any, at: int, attributes: Mapping[str, Any]) -> Any:
        context = self._api.set_span_in_context(parent)
        return self._tracer.start_span(name, context=context, attributes=attributes, start_time=at)

    def _finish_iteration(self, at: int) -> None:
        """End the iteration span: when its last event came, else (cut short) at ``at``."""
        if self._iteration is not None:
            self._iteration.end(end_time=self._iteration_done or at)
        self._iteration = self._iteration_done = None

    def _innermost(self) -> Any:
        return self._iteration if self._iteration is not None else self._root

    def _end_all(self, at: int, why: str) -> None:
        """End the open spans, innermost first, with status ERROR ``why`` (an iteration that
        reached its iteration.end ends as it was)."""
        for span in self._tools.values():
            _fail(self._api, span, why, at)
        self._tools.clear()
        if self._iteration is not None and self._iteration_done is None:
            _fail(self._api, self._iteration, why, at)
            self._iteration = None
        self._finish_iteration(at)
        if self._root is not None:
            _fail(self._api, self._root, why, at)
        self._root = self._iteration_number = None


def _fail(api: Any, span: Any, description: str, at: int) -> None:
    span.set_status(api.Status(api.StatusCode.ERROR, description))
    span.end(end_time=at)


def _ns(seconds: Any) -> int:
    return int(float(seconds) * 1_000_000_000)


def _text(value: Any, limit: int = _TEXT_LIMIT) -> str:
    """A span attribute's text: strings as they are, other values as JSON; cut at ``limit``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _attributes(e: Mapping[str, Any]) -> dict[str, Any]:
    """An event's fields as span attributes (scalars kept, the rest as JSON text)."""
    out: dict[str, Any] = {}
    for key, value in e.items():
        if key in ("seq", "t", "event") or value is None:
            continue
        if isinstance(value, bool | int | float):
            out[f"tether.{key}"] = value
        else:
            out[f"tether.{key}"] = _text(value)
    return out


def _error_message(content: Any) -> str:
    """The first line of a tool error's message."""
    return _text(tool_error_line(content), 200)
