"""The recovery loop, written once for functions and commands, sync and async: one import.

The parts live in their own modules; this one gathers their names, for ``@mark``,
``tether run`` and code written against the older single module:

- :mod:`tether.recover.flow`: the flow itself, a generator of requests with no I/O
  (:func:`recovery`; what it does, step by step, is in that module's docstring);
- :mod:`tether.recover.requests`: what the flow asks for (:class:`RunJob`, :class:`ApplyRule`,
  :class:`Candidates`, :class:`Record`, :class:`Emit` ...) and their answers;
- :mod:`tether.recover.events`: what watchers are told, one frozen class per kind
  (:class:`RecoveryEvent` is their base);
- :mod:`tether.recover.model`: settings, failures, attempts and the outcome;
- :mod:`tether.recover.drive`: the drivers (:func:`run_sync`, :func:`run_async`) and the
  services they answer with (:class:`RecoveryServices`, :class:`EngineServices`,
  :class:`JobServices`).
"""

from __future__ import annotations

from tether.recover.drive import (
    EngineServices,
    JobServices,
    RecoveryServices,
    call_teardown,
    run_async,
    run_sync,
)
from tether.recover.events import RecoveryEvent, event_from
from tether.recover.flow import backoff_s, recovery
from tether.recover.model import (
    RECOGNISE_ONLY_TAG,
    Attempt,
    AttemptOutcome,
    Failure,
    JobResult,
    Outcome,
    RecoverySettings,
    StopKind,
)
from tether.recover.requests import (
    ApplyRule,
    Candidates,
    Emit,
    Explore,
    Explored,
    Promote,
    Record,
    Reject,
    Request,
    Rollback,
    RunJob,
    Setup,
    Sleep,
    Teardown,
)

__all__ = [
    "RECOGNISE_ONLY_TAG",
    "ApplyRule",
    "Attempt",
    "AttemptOutcome",
    "Candidates",
    "Emit",
    "EngineServices",
    "Explore",
    "Explored",
    "Failure",
    "JobResult",
    "JobServices",
    "Outcome",
    "Promote",
    "Record",
    "RecoveryEvent",
    "RecoveryServices",
    "RecoverySettings",
    "Reject",
    "Request",
    "Rollback",
    "RunJob",
    "Setup",
    "Sleep",
    "StopKind",
    "Teardown",
    "backoff_s",
    "call_teardown",
    "event_from",
    "recovery",
    "run_async",
    "run_sync",
]
