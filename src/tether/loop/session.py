"""One session of a run: its trace and spans opened, its state file locked, all closed after.

A run may have several sessions (a resumed run is a new one). :meth:`Session.open` starts
the trace (events go to the span recorder, to policies that watch events, then to
``on_event``), opens the state file (:func:`~tether.loop.persist.open_state`) and starts the
wall clock where the last session left it; :meth:`Session.close` undoes all that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.errors import TetherError
from tether.loop import persist
from tether.loop.end import finish
from tether.loop.otel import SpanRecorder
from tether.loop.result import LoopResult, LoopStatus
from tether.loop.run_state import RunState
from tether.loop.services import Services
from tether.loop.trace import Trace

__all__ = ["Session", "aborted"]

OnEvent = Callable[[dict[str, Any]], None]


@dataclass
class Session:
    """The open parts of one session (see the module docstring)."""

    spans: SpanRecorder | None
    policies: list[Any]
    on_event: OnEvent | None
    running: bool = True

    @classmethod
    def open(
        cls, state: RunState, deps: Services, on_event: OnEvent | None, otel: bool | Any
    ) -> Session:
        """Start a session of the run.

        Args:
            on_event: called with every event dict, after the spans and watching policies.
            otel: spans through opentelemetry-api when importable (``True``), none
                (``False``), or spans to this ``TracerProvider``.

        Raises:
            ConfigError: the trace file cannot be written.
            StateError: the state file cannot be opened (locked, or holds another run).
        """
        spans = None if otel is False else SpanRecorder.if_available(None if otel is True else otel)
        session = cls(spans, deps.policies, on_event)
        deps.trace = Trace(deps.trace_path, on_event=session.dispatch)
        try:
            persist.open_state(state, deps)
        except BaseException:
            deps.trace.close()
            raise
        state.started = deps.clock() - state.elapsed_before
        return session

    def dispatch(self, event: dict[str, Any]) -> None:
        """Hand one event to the span recorder, policies that watch events, and ``on_event``."""
        if self.spans is not None:
            self.spans(event)
        for policy in self.policies:
            watch = getattr(policy, "on_loop_event", None)
            if watch is not None:
                watch(event)
        if self.on_event is not None:
            self.on_event(event)

    def close(self, state: RunState, deps: Services) -> None:
        """End the session: stop its clock, close the trace, the state file and the spans
        (idempotent)."""
        if not self.running:
            return
        self.running = False
        state.elapsed_before = state.elapsed(deps.clock())
        if deps.trace is not None:
            deps.trace.close()
        persist.close_state(deps)
        if self.spans is not None:
            self.spans.close()


def aborted(state: RunState, deps: Services, on_event: OnEvent | None) -> LoopResult:
    """The result of a run stopped at once by a second Ctrl-C (ABORTED, resumable), traced to
    a trace reopened for it since the session's was closed."""
    try:
        deps.trace = Trace(deps.trace_path, on_event=on_event)
    except TetherError:
        deps.trace = None
    try:
        return finish(
            state, deps, LoopStatus.ABORTED, "interrupted (Ctrl-C twice)", resumable=True
        ).result
    finally:
        if deps.trace is not None:
            deps.trace.close()
