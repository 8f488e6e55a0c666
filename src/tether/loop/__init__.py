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
from tether.loop.core import Loop, NestedLoopError, Policy
from tether.loop.end import End
from tether.loop.explain import Explanation, explain, load_trace
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
    "explain",
    "load_trace",
]
