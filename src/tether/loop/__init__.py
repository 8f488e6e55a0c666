"""The governed loop: a run toward a goal that cannot run away and always says why it stopped.

``Loop`` (:mod:`.core`) runs Observe → Plan → Act → Evaluate inside ceilings
(iterations, tokens, wall clock, optional USD) checked before every model call
and tool batch; :mod:`.progress` holds goal metrics and the ``NoProgress``
policy; :mod:`.result` the statuses; :mod:`.trace` the live JSONL trace.
"""

from __future__ import annotations

from tether.loop.core import Loop, NestedLoopError, Policy
from tether.loop.progress import (
    GoalMetric,
    IterationReport,
    MetricSnapshot,
    NoProgress,
    PolicyDecision,
)
from tether.loop.result import LoopExit, LoopResult, LoopStatus
from tether.loop.trace import Trace

__all__ = [
    "GoalMetric",
    "IterationReport",
    "Loop",
    "LoopExit",
    "LoopResult",
    "LoopStatus",
    "MetricSnapshot",
    "NestedLoopError",
    "NoProgress",
    "Policy",
    "PolicyDecision",
    "Trace",
]
