"""The recovery flow: a generator of requests that does no I/O of its own (as h11's ``_state``).

It never runs the job, calls a hook, sleeps, writes a file or asks a service: it yields a
request (:mod:`tether.recover.requests`) and is sent the answer. It reads time only through the
injected ``clock`` and randomness (backoff jitter) only through the injected ``rng``. The
drivers in :mod:`tether.recover.drive` answer the requests; tests drive it alone
(``tests/recover/test_flow_transcripts.py``).

Per failure, candidates come from the resolver (:class:`Candidates`), untried ones first, at
most ``max_retries`` rules. After a rule's steps run (:class:`ApplyRule`), the job re-runs
(:class:`RunJob`):

- it passes: recovered;
- the same rule still matches with the same captures: that rule failed (a rule with a
  ``retry`` policy first re-applies itself after a :class:`Sleep`); what it changed is rolled
  back (:class:`Rollback`);
- otherwise the rule's error is gone and a new one shows: **progress**. The rule is credited
  (and promoted if ephemeral), retries and the tried list reset, and recovery goes one level
  deeper, up to ``max_depth`` levels; a failure already seen at an earlier level (same
  fingerprint) is a cycle and stops recovery.

When no rule is left for a failure and ``settings.explore`` is on, the flow asks for an
exploration (:class:`Explore`). A rule the explorer proposes is *ephemeral*: it runs like any
candidate, and only a verified success or verified progress promotes it (:class:`Promote`).
Otherwise it is rejected (:class:`Reject`) and the rejection is shown to the next exploration —
with ``allow_escalation``, one more, on the secondary model. Each level explores at most once
(twice with escalation).

When recovery stops without a pass, the caller gets the user's failure back: at the first level
the very first failure (the original exception object or exit code); after progress, the
failure of the deepest level reached.

The shape: :func:`recovery` runs :func:`_level` once per level; a level runs :func:`_explore`
(one exploration step) and :func:`_attempt` (one rule, whose steps and re-runs are
:func:`_apply`) until one of them ends the level. Each delegates with ``yield from``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from tether.actions.run import RuleRun
from tether.recover.events import (
    AttemptStarted,
    GaveUp,
    NeedsYou,
    Progressed,
    Recovered,
    RetryScheduled,
    RolledBack,
    RuleFailed,
)
from tether.recover.fingerprint import fingerprint
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
from tether.rules.book import Match
from tether.rules.match import match_rule, prepare
from tether.rules.model import Backoff, Rule

__all__ = ["Flow", "backoff_s", "recovery"]

T = TypeVar("T")

Flow = Generator[Request, Any, T]
"""A part of the recovery flow: yields requests, is sent their answers, returns a ``T``."""

_Next = tuple[str, list[Match]]
"""The candidates left at a level, or why there are none (``""`` when there are)."""

_DEEPER: Literal["deeper"] = "deeper"
"""An attempt made progress and recovery goes on one level deeper."""


def backoff_s(policy: Backoff, repeat: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before re-run number ``repeat`` (1-based) under ``policy``."""
    delay: float = min(policy.backoff_s * 2.0 ** (repeat - 1), policy.max_backoff_s)
    if policy.jitter and delay > 0:
        delay *= 1 + (rng or random).random() * 0.25
    return delay


@dataclass
class _Run:
    """All mutable state of one recovery; the steps below read and update it."""

    first: Failure
    settings: RecoverySettings
    clock: Callable[[], float]
    rng: random.Random | None
    failure: Failure
    seen: set[str]
    state: dict[str, Any]
    may_explore: bool
    level: int = 1
    number: int = 0
    tried: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    explorations: int = 0
    rejections: list[str] = field(default_factory=list)


@dataclass
class _Tried:
    """How one rule's steps and the job's re-runs ended (before it becomes an :class:`Attempt`)."""

    outcome: AttemptOutcome
    run: RuleRun
    error: str | None = None
    new: Failure | None = None
    value: Any = None
    rolled_back: list[str] = field(default_factory=list)


def recovery(
    first: Failure,
    settings: RecoverySettings,
    *,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> Flow[Outcome]:
    """The recovery of ``first``; see the module docstring.

    Args:
        first: the job's first failure.
        settings: how this recovery runs (limits, rule selection, hooks, exploration).
        clock: monotonic time in seconds, for attempts' ``duration_s``.
        rng: the random source of backoff jitter (default: the :mod:`random` module).

    Returns:
        A generator of :data:`~tether.recover.requests.Request`; its return value is the
        :class:`~tether.recover.model.Outcome`. Drive it with
        :func:`~tether.recover.drive.run_sync` or :func:`~tether.recover.drive.run_async`.
    """
    run = _Run(
        first,
        settings,
        clock,
        rng,
        failure=first,
        seen={fingerprint(first.context)},
        state=dict(settings.state),
        may_explore=settings.explore,
    )
    while True:
        outcome = yield from _level(run)
        if outcome is not None:
            return outcome


def _level(run: _Run) -> Flow[Outcome | None]:
    """One level: rules (and explorations) one by one until one ends it (``None``: deeper)."""
    lookahead: _Next | None = None
    while True:
        ending, candidates = lookahead if lookahead is not None else (yield from _next(run))
        lookahead = None
        explored: Explored | None = None
        limit = 2 if run.settings.allow_escalation else 1
        if ending and run.may_explore and run.explorations < limit:
            step = yield from _explore(run, ending)
            if isinstance(step, Outcome):
                return step
            ending, candidates, explored = step
        if ending:
            return (yield from _stop(run, ending))
        end = yield from _attempt(run, candidates[0], explored)
        if isinstance(end, Outcome):
            return end
        if isinstance(end, str):  # _DEEPER
            return None
        lookahead = end


def _next(run: _Run) -> Flow[_Next]:
    """The candidates left at this level, or why there are none."""
    settings, tried = run.settings, run.tried
    if len(tried) >= settings.max_retries:
        reason = f"tried {len(tried)} rule(s) for this error (max_retries={settings.max_retries})"
        return reason, []
    candidates: list[Match] = yield Candidates(run.failure.context, settings, list(tried))
    if not candidates:
        return ("no rule matches this failure" if not tried else "no other rule matches"), []
    return "", candidates


def _stop(run: _Run, reason: str, kind: StopKind = "gave_up") -> Flow[Outcome]:
    """End recovery without a pass: the first failure at level 1, else the deepest one."""
    surfaced = run.first if run.level == 1 else run.failure
    count = len(run.attempts)
    yield Emit(GaveUp(reason, count) if kind == "gave_up" else NeedsYou(reason, count))
    return Outcome(False, failure=surfaced, attempts=run.attempts, reason=reason, levels=run.level)


def _explore(run: _Run, ending: str) -> Flow[Outcome | tuple[str, list[Match], Explored]]:
    """One exploration step: a rule to try, a direct fix verified (an :class:`Outcome`), or
    why this level ends (``ending`` extended)."""
    settings = run.settings
    run.explorations += 1
    explored: Explored = yield Explore(
        run.failure.context,
        run.level,
        list(run.tried),
        list(run.rejections),
        escalate=run.explorations > 1,
        target=settings.target,
        hint=settings.hint,
        collection=settings.collection,
        allow_escalation=settings.allow_escalation,
    )
    if explored.match is not None:
        return "", [explored.match], explored
    if explored.rerun:
        rerun: JobResult = yield RunJob()
        if rerun.failure is None:
            yield Emit(Recovered("explorer", run.level))
            run.attempts.append(Attempt("explorer", run.level, run.number + 1, "success"))
            return Outcome(
                True,
                value=rerun.value,
                attempts=run.attempts,
                reason="recovered by the explorer directly",
                levels=run.level,
            )
        ending = f"{ending}; the explorer said it fixed the failure, but the job still fails"
        return ending, [], explored
    run.may_explore = explored.explored
    what = "exploration ended" if explored.explored else "not explored"
    return f"{ending}; {what}: {explored.reason}", [], explored


def _attempt(
    run: _Run, match: Match, explored: Explored | None
) -> Flow[Outcome | Literal["deeper"] | _Next]:
    """One rule: setup, its steps and re-runs, its record, and what follows from its outcome
    (an :class:`Outcome`, one level deeper, or the next candidates at this level)."""
    settings, rule = run.settings, match.rule
    run.tried.append(rule.name)
    run.number += 1
    number = run.number
    if settings.setup is not None:
        try:
            updated = yield Setup(settings.setup, run.state, number)
        except Exception as exc:
            return (yield from _stop(run, f"setup hook raised: {type(exc).__name__}: {exc}"))
        if updated is not None:
            run.state = updated
    if settings.target:
        run.state["_fn_name"] = settings.target
    yield Emit(AttemptStarted(rule.name, run.level, number, match.captures))
    started = run.clock()
    tried = yield from _apply(run, match)
    duration_s = round(run.clock() - started, 4)
    attempt = Attempt(
        rule.name, run.level, number, tried.outcome, dict(match.captures), tried.error, duration_s
    )
    run.attempts.append(attempt)
    observation = _observation(settings, match, attempt, tried, explored)
    run.state["_observation"] = observation
    if tried.outcome in ("success", "progress"):
        yield Promote(rule)
    elif explored is not None and explored.match is not None:
        why = tried.error or "the job failed the same way after the rule ran"
        rejection: str = yield Reject(rule, f"{tried.outcome}: {why}")
        run.rejections.append(rejection)
        observation["llm"]["rejection"] = rejection
    if tried.outcome == "success":
        yield from _teardown(run, number, True)
        yield Record(rule, attempt, observation)
        yield Emit(Recovered(rule.name, run.level))
        return Outcome(
            True, value=tried.value, attempts=run.attempts, reason="recovered", levels=run.level
        )
    if tried.outcome == "progress":
        assert tried.new is not None
        return (yield from _deeper(run, rule, attempt, observation, tried.new))
    if RECOGNISE_ONLY_TAG in rule.tags and tried.outcome == "action_error":
        # the rule recognised a failure only a person can fix: say what to do, stop
        yield from _teardown(run, number, False)
        yield Record(rule, attempt, observation)
        steps = tried.run.steps
        message = (steps[-1].error if steps and steps[-1].error else tried.error) or rule.name
        return (yield from _stop(run, message, kind="needs_you"))
    yield Emit(RuleFailed(rule.name, tried.outcome, tried.error))
    # look ahead, so the last attempt's teardown can be told why recovery ends
    lookahead = yield from _next(run)
    if lookahead[0]:
        run.state["_give_up_reason"] = lookahead[0]
    yield from _teardown(run, number, False)
    yield Record(rule, attempt, observation)
    return lookahead


def _apply(run: _Run, match: Match) -> Flow[_Tried]:
    """A rule's steps and the job's re-run, repeated with backoff while a ``retry`` rule's
    error comes back the same (a fix that did not fix is rolled back each time)."""
    rule = match.rule
    policy = rule.retry or Backoff()
    outcome: AttemptOutcome = "failure"
    error: str | None = None
    new: Failure | None = None
    value: Any = None
    rolled_back: list[str] = []
    for repeat in range(policy.attempts):
        applied: RuleRun = yield ApplyRule(match, run.failure.context)
        rolled_back += applied.rolled_back
        if not applied.ok:
            outcome, error = "action_error", applied.error
            break
        if rule.retry is not None:
            delay = backoff_s(policy, repeat + 1, run.rng)
            yield Emit(RetryScheduled(rule.name, run.level, repeat + 1, policy.attempts, delay))
            yield Sleep(delay)
        result: JobResult = yield RunJob()
        if result.failure is None:
            outcome, value = "success", result.value
            break
        new = result.failure
        again = match_rule(rule, prepare(new.context))
        if again is not None and again == match.captures:
            run.failure, outcome = new, "failure"
            if applied.changes:  # the fix did not fix: it leaves nothing behind
                undone: list[str] = yield Rollback(applied)
                rolled_back += undone
                yield Emit(RolledBack(rule.name, undone))
            continue
        outcome = "progress"
        break
    return _Tried(outcome, applied, error, new, value, rolled_back)


def _deeper(
    run: _Run, rule: Rule, attempt: Attempt, observation: dict[str, Any], new: Failure
) -> Flow[Outcome | Literal["deeper"]]:
    """Progress: go one level deeper, unless the new failure is a cycle or past ``max_depth``."""
    settings = run.settings
    yield Emit(Progressed(rule.name, run.level))
    new_fp = fingerprint(new.context)
    if new_fp in run.seen:
        reason = "cycle: a fix brought back a failure seen at an earlier level"
    elif run.level >= settings.max_depth:
        reason = f"a new failure at depth {run.level + 1} (max_depth={settings.max_depth})"
    else:
        reason = ""
    run.failure = new
    if reason:
        run.state["_give_up_reason"] = reason
    yield from _teardown(run, attempt.number, False)
    yield Record(rule, attempt, observation)
    run.level += 1
    if reason:
        return (yield from _stop(run, reason))
    run.seen.add(new_fp)
    run.tried, run.explorations, run.rejections = [], 0, []
    return _DEEPER


def _teardown(run: _Run, number: int, success: bool) -> Flow[None]:
    """The teardown hook's request, when there is a hook."""
    if run.settings.teardown is not None:
        yield Teardown(run.settings.teardown, run.state, number, success)


def _observation(
    settings: RecoverySettings,
    match: Match,
    attempt: Attempt,
    tried: _Tried,
    explored: Explored | None,
) -> dict[str, Any]:
    """The attempt's line for the observations log (and the teardown hook's ``_observation``)."""
    rule = match.rule
    verified = attempt.outcome in ("success", "progress")
    observation: dict[str, Any] = {
        "target": settings.target,
        "rule": rule.name,
        "captures": match.captures,
        "outcome": attempt.outcome,
        "depth": attempt.level,
        "attempt": attempt.number,
        "duration_s": attempt.duration_s,
        "error": tried.error,
    }
    if tried.run.changes and verified:
        observation["changes"] = list(tried.run.changes)
    if tried.rolled_back:
        observation["rolled_back"] = tried.rolled_back
    usage = getattr(tried.run, "usage", None)  # an llm_config rule: what its conversation spent
    if usage is not None and rule.kind == "llm":
        observation["llm"] = {
            "kind": "llm_action",
            "model": getattr(tried.run, "model", None),
            "tokens": usage.input_tokens + usage.output_tokens,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "outcome": "success" if verified else "failure",
        }
    if explored is not None and explored.match is not None:
        observation["llm"] = {**explored.record, "outcome": "success" if verified else "failure"}
    return observation
