"""The extension points of a governed run, in one place.

Each is a structural :class:`~typing.Protocol`: anything with the right methods
fits, no base class needed, and ``isinstance(x, Policy)`` checks the methods are
there (not their signatures). Who calls what, and when, in one
:class:`~tether.Loop` run::

    observe()                          start of each iteration
      └── GoalMetric.measure(obs)      right after; success ends the run
    model call, tool calls             every trace event ──> WatchesEvents.on_loop_event(event)
      └── ApprovalRunner.decide(req)   before a gated action runs (RequireApproval)
    Policy(report)                     end of each iteration; may stop the run or add a nudge
    Summarizer.summarize(i, messages)  once, when iteration i leaves the verbatim window

Built-in implementations: policies :class:`~tether.loop.progress.NoProgress`,
:class:`~tether.loop.budget.CostLimit`, :class:`~tether.loop.approval.RequireApproval`,
:class:`~tether.regulator.policy.RegulatorPolicy` (the last two also watch
events); approval runners :class:`~tether.loop.approval.CLIApproval`,
:class:`~tether.loop.approval.CallbackApproval`,
:class:`~tether.loop.approval.HeadlessApproval`; summarizers
:class:`~tether.loop.summary.DeterministicSummarizer`,
:class:`~tether.loop.summary.ModelSummarizer`; goal metric
:class:`~tether.loop.testfix.PytestMetric`.

This module imports nothing of tether at run time (the names in annotations
are for type checkers only). It is the one definition; :mod:`tether.protocols`
and the loop's own modules re-export it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from tether.llm.types import Message, Usage
    from tether.loop.approval import ApprovalRequest
    from tether.loop.progress import IterationReport, MetricSnapshot, PolicyDecision

__all__ = ["ApprovalRunner", "GoalMetric", "Policy", "Summarizer", "WatchesEvents"]


@runtime_checkable
class Policy(Protocol):
    """A judge of each finished iteration; a plain function fits.

    Called by the loop once per iteration, after the iteration's tool calls ran
    and the next observation was measured, in the order the policies were given.
    A policy that also has ``state() -> dict`` and ``restore(data: dict)`` is
    saved with the run and restored on resume.
    """

    def __call__(self, report: IterationReport, /) -> PolicyDecision | None:
        """The verdict on ``report`` (:class:`~tether.loop.progress.IterationReport`).

        Returns:
            ``None`` (no opinion), or a :class:`~tether.loop.progress.PolicyDecision`:
            ``stop=True`` ends the run with its ``status``; otherwise its ``message``
            (if any) is added to the next prompt.
        """
        ...


@runtime_checkable
class WatchesEvents(Protocol):
    """A policy that also sees every trace event as it is written.

    The loop calls ``on_loop_event`` for each policy that has it, synchronously,
    before the user's ``on_event`` callback and in event order.
    """

    def on_loop_event(self, event: dict[str, Any], /) -> None:
        """Take one trace event.

        Args:
            event: a JSON-ready dict with ``"event"`` (the kind: ``loop.start``,
                ``iteration.start``, ``llm.call``, ``tool.call``, ``tool.result``, ...)
                and that kind's fields, e.g. ``llm.call``: ``input_tokens``,
                ``output_tokens`` (tokens), ``cost_usd`` (USD or ``None``: unknown),
                ``model``, ``text``; ``tool.result``: ``tool``, ``status`` (``"ok"`` or
                not), ``content``, ``duration_s`` (seconds). Do not mutate it.
        """
        ...


@runtime_checkable
class ApprovalRunner(Protocol):
    """Decides whether a gated action may run.

    Called by the loop for each tool call a
    :class:`~tether.loop.approval.RequireApproval` policy gates, before the call
    runs, synchronously (a slow decider holds the run). An implementation
    may set a ``last_note: str`` attribute; the loop records it in the trace.
    """

    def decide(self, request: ApprovalRequest, /) -> bool | None:
        """The decision on ``request`` (tool name, read-only arguments, reason, iteration).

        Returns:
            ``True`` approve, ``False`` deny (the model is told), ``None`` pending: the
            run pauses AWAITING_APPROVAL and the decision comes later
            (``tether approve`` or ``Loop.resume``).
        """
        ...


@runtime_checkable
class Summarizer(Protocol):
    """Writes one line about a past iteration, once, when it leaves the verbatim window.

    The line is kept in the run's state with ``version`` and reused on every later
    prompt and after a resume; a resumed run whose summarizer has another
    ``version`` stops with :class:`~tether.loop.state.ArtifactDriftError` unless told
    to reuse the old lines.

    Attributes:
        version: a stamp that changes whenever the lines it writes would change.
    """

    version: str

    async def summarize(
        self, index: int, messages: list[Message], /
    ) -> tuple[str, Usage, float | None]:
        """The line for iteration ``index`` (1-based) from that iteration's ``messages``.

        Returns:
            ``(line, usage, usd)``: the line, the tokens it cost (counted against the
            loop's ceilings), and their price in USD (``None``: unknown).
        """
        ...


@runtime_checkable
class GoalMetric(Protocol):
    """Measures an observation: how far the run is from its goal.

    Called by the loop at the start of each iteration, right after ``observe()``;
    a snapshot with ``success`` ends the run SUCCESS, and its trend against the
    previous snapshot (``improved``/``regressed``/``flat``) feeds the progress
    policies.
    """

    def measure(self, observation: Any, /) -> MetricSnapshot:
        """The :class:`~tether.loop.progress.MetricSnapshot` for ``observation``.

        Args:
            observation: whatever ``observe()`` returned (text or anything JSON-able).
        """
        ...
