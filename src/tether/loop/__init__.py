"""The governed loop: a run toward a goal that cannot run away and always says why it stopped.

``Loop`` (:mod:`.core`) drives a run's steps (:mod:`.steps`: observe, judge, plan,
gate, act, close) over its :mod:`.run_state` and :mod:`.services`, inside
:mod:`.ceilings` (iterations, tokens, wall clock, optional USD) checked before every
model call and tool batch; :mod:`.gate` and :mod:`.persist` are the approval gate and the
saving of a run, as functions over its state; :mod:`.progress` holds goal metrics and the ``NoProgress``
policy; :mod:`.budget` the ``CostLimit`` policy and budget reports;
:mod:`.approval` gated actions and their runners; :mod:`.state` the saved
state (snapshot + journal) behind ``Loop.resume``; :mod:`.summary` the
summaries of old iterations; :mod:`.result` the statuses; :mod:`.trace` the
live JSONL trace; :mod:`.explain` reports read from traces; :mod:`.otel` OpenTelemetry spans;
:mod:`.testfix` the ``TestFixLoop`` blueprint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._lazy import lazy_exports

if TYPE_CHECKING:
    from tether.loop.approval import (
        ApprovalError,
        ApprovalRequest,
        ApprovalRunner,
        CallbackApproval,
        CLIApproval,
        HeadlessApproval,
        RequireApproval,
    )
    from tether.loop.budget import BudgetReport, CostLimit
    from tether.loop.ceilings import Ceilings, Remaining
    from tether.loop.core import Loop, NestedLoopError
    from tether.loop.end import End
    from tether.loop.explain import Explanation, explain, load_trace
    from tether.loop.hooks import Policy, WatchesEvents
    from tether.loop.otel import SpanRecorder
    from tether.loop.progress import (
        GoalMetric,
        IterationReport,
        MetricSnapshot,
        NoProgress,
        PolicyDecision,
    )
    from tether.loop.result import LoopExit, LoopResult, LoopStatus
    from tether.loop.state import (
        ArtifactDriftError,
        SchemaChangedError,
        StateCorrupt,
        StateError,
        StateLocked,
        StateVersionError,
    )
    from tether.loop.summary import DeterministicSummarizer, ModelSummarizer, Summarizer
    from tether.loop.testfix import PytestMetric, TestFixLoop
    from tether.loop.trace import Trace

_EXPORTS: dict[str, str] = {
    "ApprovalError": "tether.loop.approval",
    "ApprovalRequest": "tether.loop.approval",
    "ApprovalRunner": "tether.loop.approval",
    "ArtifactDriftError": "tether.loop.state",
    "BudgetReport": "tether.loop.budget",
    "CLIApproval": "tether.loop.approval",
    "CallbackApproval": "tether.loop.approval",
    "Ceilings": "tether.loop.ceilings",
    "CostLimit": "tether.loop.budget",
    "DeterministicSummarizer": "tether.loop.summary",
    "End": "tether.loop.end",
    "Explanation": "tether.loop.explain",
    "GoalMetric": "tether.loop.progress",
    "HeadlessApproval": "tether.loop.approval",
    "IterationReport": "tether.loop.progress",
    "Loop": "tether.loop.core",
    "LoopExit": "tether.loop.result",
    "LoopResult": "tether.loop.result",
    "LoopStatus": "tether.loop.result",
    "MetricSnapshot": "tether.loop.progress",
    "ModelSummarizer": "tether.loop.summary",
    "NestedLoopError": "tether.loop.core",
    "NoProgress": "tether.loop.progress",
    "Policy": "tether.loop.hooks",
    "PolicyDecision": "tether.loop.progress",
    "PytestMetric": "tether.loop.testfix",
    "Remaining": "tether.loop.ceilings",
    "RequireApproval": "tether.loop.approval",
    "SchemaChangedError": "tether.loop.state",
    "SpanRecorder": "tether.loop.otel",
    "StateCorrupt": "tether.loop.state",
    "StateError": "tether.loop.state",
    "StateLocked": "tether.loop.state",
    "StateVersionError": "tether.loop.state",
    "Summarizer": "tether.loop.summary",
    "TestFixLoop": "tether.loop.testfix",
    "Trace": "tether.loop.trace",
    "WatchesEvents": "tether.loop.hooks",
    "explain": "tether.loop.explain",
    "load_trace": "tether.loop.explain",
}

__all__ = [
    "ApprovalError",
    "ApprovalRequest",
    "ApprovalRunner",
    "ArtifactDriftError",
    "BudgetReport",
    "CLIApproval",
    "CallbackApproval",
    "Ceilings",
    "CostLimit",
    "DeterministicSummarizer",
    "End",
    "Explanation",
    "GoalMetric",
    "HeadlessApproval",
    "IterationReport",
    "Loop",
    "LoopExit",
    "LoopResult",
    "LoopStatus",
    "MetricSnapshot",
    "ModelSummarizer",
    "NestedLoopError",
    "NoProgress",
    "Policy",
    "PolicyDecision",
    "PytestMetric",
    "Remaining",
    "RequireApproval",
    "SchemaChangedError",
    "SpanRecorder",
    "StateCorrupt",
    "StateError",
    "StateLocked",
    "StateVersionError",
    "Summarizer",
    "TestFixLoop",
    "Trace",
    "WatchesEvents",
    "explain",
    "load_trace",
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
