"""The recovery loop, written once for functions and commands, sync and async.

The loop is a generator that *asks* for work instead of doing I/O itself: it
yields :class:`RunJob` (re-run the failing job), :class:`ApplyRule` (run a
rule's steps) and :class:`Sleep`, and receives their results. ``run_sync`` and
``run_async`` are the two drivers; ``@mark`` and ``tether run`` use them, so
every behaviour below is the same everywhere.

Per failure, candidates come from the resolver, untried ones first, at most
``max_retries`` rules. After a rule's steps run, the job re-runs:

- it passes: recovered;
- the same rule still matches with the same captures: that rule failed
  (a rule with a ``retry`` policy first re-applies itself with backoff);
- otherwise the rule's error is gone and a new one shows: **progress**. The
  rule is credited (and promoted if ephemeral), retries and the tried list
  reset, and recovery goes one level deeper, up to ``max_depth`` levels;
  a failure already seen at an earlier level (same fingerprint) is a cycle
  and stops recovery.

When no rule is left for a failure and ``settings.explore`` is on, the loop
asks for an exploration (:class:`Explore`). A rule the explorer proposes is
*ephemeral*: it runs like any candidate, and only a verified success (the job
passes) or verified progress (its error is gone, a new one shows) promotes it
(``services.promote``). Otherwise it is rejected (``services.reject``) and the
rejection is shown to the next exploration — with ``allow_escalation``, one
more, on the secondary model. Each level explores at most once (twice with
escalation).

When recovery stops without a pass, the caller gets the user's failure back:
at the first level the very first failure (the original exception object or
exit code); after progress, the failure of the deepest level reached.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from tether._types import Context
from tether.actions.run import RuleRun
from tether.recover.fingerprint import fingerprint
from tether.rules.book import Match
from tether.rules.match import match_rule, prepare
from tether.rules.model import RetryPolicy, Rule

__all__ = [
    "RECOGNISE_ONLY_TAG",
    "ApplyRule",
    "Attempt",
    "Explore",
    "Explored",
    "Failure",
    "JobResult",
    "Outcome",
    "RecoveryEvent",
    "RecoveryServices",
    "RecoverySettings",
    "Rollback",
    "RunJob",
    "Sleep",
    "recovery",
    "run_async",
    "run_sync",
]


RECOGNISE_ONLY_TAG = "recognise-only"
"""A rule with this tag recognises a failure tether must not fix (merge-conflict markers):
its action checks the failure and raises with what the user should do; recovery stops there
and reports it (event ``needs_you``) instead of trying other rules."""


@dataclass
class Failure:
    """A failed run of the job: its context, and the user's own error (exception or exit code)."""

    context: Context
    error: BaseException | int | None = None


@dataclass
class JobResult:
    """One run of the job: ``failure`` is ``None`` when it passed, with its return ``value``."""

    value: Any = None
    failure: Failure | None = None


@dataclass
class RunJob:
    """Request: run the job again; answer with a :class:`JobResult`."""


@dataclass
class ApplyRule:
    """Request: run ``match.rule``'s steps for ``context``; answer with a :class:`RuleRun`."""

    match: Match
    context: Context


@dataclass
class Rollback:
    """Request: undo what ``run``'s steps changed (the re-run showed they did not fix it);
    answer with the list of what was undone (:meth:`RuleRun.rollback`)."""

    run: RuleRun


@dataclass
class Explore:
    """Request: explore ``context`` with an LLM; answer with an :class:`Explored`.

    Attributes:
        context: the failure no rule fixed.
        level: the deep-recovery level (1-based).
        tried: rules already tried on this failure.
        rejections: why earlier explored rules for this failure were rejected.
        escalate: a previous exploration at this level failed; use the secondary model.
        target: what failed (the function's name or the command line).
        hint: the user's hint for the explorer.
        collection: the collection explored rules join.
        allow_escalation: a give-up may hand over to the secondary model.
    """

    context: Context
    level: int = 1
    tried: list[str] = field(default_factory=list)
    rejections: list[str] = field(default_factory=list)
    escalate: bool = False
    target: str = ""
    hint: str | None = None
    collection: str | None = None
    allow_escalation: bool = False


@dataclass
class Explored:
    """The answer to :class:`Explore`.

    Attributes:
        match: the rule to run (ephemeral or existing) with its captures, or ``None``.
        reason: why there is no rule (not allowed, gave up, a ceiling ...), or where it came from.
        rerun: the explorer fixed the failure directly; re-run the job to verify.
        explored: a model was involved (``False``: exploration was not allowed or not possible,
            so asking again at a deeper level is pointless).
        record: the LLM attempt's record (model, tokens, seconds) for the attempt's observation.
    """

    match: Match | None = None
    reason: str = ""
    rerun: bool = False
    explored: bool = True
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sleep:
    """Request: wait ``seconds`` (the injected sleep; tests never wait)."""

    seconds: float


AttemptOutcome = Literal["success", "progress", "failure", "action_error"]
"""How one applied rule ended (see :class:`Attempt`)."""

StopKind = Literal["gave_up", "needs_you"]
"""The event kind a recovery that did not recover ends with."""


@dataclass
class Attempt:
    """One rule applied: where (``level``, ``number``), and how it ended.

    ``outcome`` is ``"success"`` (job passed), ``"progress"`` (a new error
    underneath), ``"failure"`` (same error again) or ``"action_error"``.
    """

    rule: str
    level: int
    number: int
    outcome: AttemptOutcome
    captures: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0


@dataclass
class Outcome:
    """How recovery ended: ``recovered`` with the job's ``value``, or the ``failure`` to surface."""

    recovered: bool
    value: Any = None
    failure: Failure | None = None
    attempts: list[Attempt] = field(default_factory=list)
    reason: str = ""
    levels: int = 1

    def note(self) -> str:
        """A one-line account for the user's exception notes and the CLI."""
        if not self.attempts:
            return f"tether: no recovery ({self.reason})"
        tried = ", ".join(f"{a.rule} ({a.outcome})" for a in self.attempts)
        return f"tether: tried {tried}; gave up: {self.reason}"


@dataclass(frozen=True)
class RecoveryEvent:
    """Something the loop did, for progress displays: ``kind`` plus details."""

    kind: str
    data: dict[str, Any]


@dataclass
class RecoverySettings:
    """How one recovery runs. Mirrors ``@mark``'s parameters."""

    max_retries: int = 3
    max_depth: int = 3
    rules: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    collection: str | None = "default"
    fallback: bool = True
    setup: Callable[[dict[str, Any], int], dict[str, Any] | None] | None = None
    teardown: Callable[[dict[str, Any], int, bool], None] | None = None
    state: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    explore: bool = False
    """Explore failures no rule fixes (the engine decides whether a model may be used)."""
    allow_escalation: bool = False
    """A rejected or given-up exploration hands over to the secondary model once."""
    hint: str | None = None
    """Shown to the explorer."""


Request = RunJob | ApplyRule | Sleep | Explore | Rollback
"""What the recovery generator asks its driver for."""


class RecoveryServices(Protocol):
    """What recovery needs from the engine: what ``@mark`` and the drivers need to answer the
    generator's requests (``sleep`` to ``notice``), and the generator's own queries and records
    (``candidates`` to ``emit``).

    The engine (the composition root) implements it; nothing in ``recover/`` knows the engine.
    """

    @property
    def sleep(self) -> Callable[[float], None]:
        """How to wait, in seconds (a recorder in tests, so backoff never waits)."""
        ...

    @property
    def clock(self) -> Callable[[], float]:
        """Monotonic time source in seconds."""
        ...

    def settings(self, **overrides: Any) -> RecoverySettings:
        """Recovery settings from the engine's defaults with ``overrides`` (``None`` ignored)."""
        ...

    def exploration_on(self) -> bool:
        """Whether explorable marked functions may explore (``engine.explore`` in config)."""
        ...

    def prepare(self) -> None:
        """Read rules and actions now (before an event-loop driven recovery starts)."""
        ...

    def apply_rule(self, request: ApplyRule) -> RuleRun:
        """Answer :class:`ApplyRule`: run the rule's steps where the job failed."""
        ...

    def explore(self, request: Explore) -> Explored:
        """Answer :class:`Explore`: let the explorer look for a rule."""
        ...

    def notice(self, reason: str) -> None:
        """Say once why exploration did not run."""
        ...

    def candidates(
        self, context: Context, settings: RecoverySettings, exclude: list[str]
    ) -> list[Match]:
        """Matching rules for ``context``, best first, leaving out ``exclude``."""
        ...

    def record(self, rule: Rule, attempt: Attempt, observation: dict[str, Any]) -> None:
        """Persist one attempt (statistics and observations); must not raise."""
        ...

    def promote(self, rule: Rule) -> None:
        """Make a verified ephemeral rule permanent; must not raise."""
        ...

    def reject(self, rule: Rule, reason: str) -> str:
        """Drop an explored rule that did not verify; returns the rejection to show the next
        exploration. Must not raise."""
        ...

    def emit(self, event: RecoveryEvent) -> None:
        """Tell displays what happened; must not raise."""
        ...


def backoff_s(policy: RetryPolicy, repeat: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before re-run number ``repeat`` (1-based) under ``policy``."""
    delay: float = min(policy.backoff_s * 2.0 ** (repeat - 1), policy.max_backoff_s)
    if policy.jitter and delay > 0:
        delay *= 1 + (rng or random).random() * 0.25
    return delay


def _call_setup(settings: RecoverySettings, state: dict[str, Any], number: int) -> dict[str, Any]:
    if settings.setup is None:
        return state
    updated = settings.setup(state, number)
    return state if updated is None else updated


def _call_teardown(
    settings: RecoverySettings, state: dict[str, Any], number: int, success: bool
) -> None:
    if settings.teardown is None:
        return
    try:
        settings.teardown(state, number, success)
    except Exception as exc:
        if state.get("suppress_exc", True) is False:
            exc.__tether_propagate__ = True  # type: ignore[attr-defined]
            raise
        warnings.warn(
            f"tether: teardown hook raised on attempt {number}: {type(exc).__name__}: {exc}",
            RuntimeWarning,
            stacklevel=2,
        )


def _next(
    settings: RecoverySettings, services: RecoveryServices, failure: Failure, tried: list[str]
) -> tuple[str, list[Match]]:
    """The candidates left at this level, or why there are none (``""`` when there are)."""
    if len(tried) >= settings.max_retries:
        reason = f"tried {len(tried)} rule(s) for this error (max_retries={settings.max_retries})"
        return reason, []
    candidates = services.candidates(failure.context, settings, tried)
    if not candidates:
        return ("no rule matches this failure" if not tried else "no other rule matches"), []
    return "", candidates


def recovery(
    first: Failure,
    settings: RecoverySettings,
    services: RecoveryServices,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Generator[Request, Any, Outcome]:
    """The loop itself; see the module docstring. Drive it with :func:`run_sync` or :func:`run_async`."""
    failure = first
    level = 1
    seen = {fingerprint(first.context)}
    tried: list[str] = []
    attempts: list[Attempt] = []
    state = dict(settings.state)
    number = 0

    def stop(reason: str, kind: StopKind = "gave_up") -> Outcome:
        surfaced = first if level == 1 else failure
        services.emit(RecoveryEvent(kind, {"reason": reason, "attempts": len(attempts)}))
        return Outcome(False, failure=surfaced, attempts=attempts, reason=reason, levels=level)

    lookahead: tuple[str, list[Match]] | None = None
    explorations = 0
    rejections: list[str] = []
    may_explore = settings.explore
    while True:
        ending, candidates = lookahead or _next(settings, services, failure, tried)
        lookahead = None
        explored: Explored | None = None
        if ending and may_explore and explorations < (2 if settings.allow_escalation else 1):
            explorations += 1
            explored = yield Explore(
                failure.context,
                level,
                list(tried),
                list(rejections),
                escalate=explorations > 1,
                target=settings.target,
                hint=settings.hint,
                collection=settings.collection,
                allow_escalation=settings.allow_escalation,
            )
            if explored.match is not None:
                ending, candidates = "", [explored.match]
            elif explored.rerun:
                rerun: JobResult = yield RunJob()
                if rerun.failure is None:
                    services.emit(RecoveryEvent("recovered", {"rule": "explorer", "level": level}))
                    attempts.append(Attempt("explorer", level, number + 1, "success"))
                    return Outcome(
                        True,
                        value=rerun.value,
                        attempts=attempts,
                        reason="recovered by the explorer directly",
                        levels=level,
                    )
                ending = (
                    f"{ending}; the explorer said it fixed the failure, but the job still fails"
                )
            else:
                may_explore = explored.explored
                what = "exploration ended" if explored.explored else "not explored"
                ending = f"{ending}; {what}: {explored.reason}"
        if ending:
            return stop(ending)
        match = candidates[0]
        rule = match.rule
        tried.append(rule.name)
        number += 1
        try:
            state = _call_setup(settings, state, number)
        except Exception as exc:
            return stop(f"setup hook raised: {type(exc).__name__}: {exc}")
        if settings.target:
            state["_fn_name"] = settings.target
        services.emit(
            RecoveryEvent(
                "attempt",
                {"rule": rule.name, "level": level, "number": number, "captures": match.captures},
            )
        )
        policy = rule.retry or RetryPolicy()
        started = clock()
        outcome: AttemptOutcome = "failure"
        error: str | None = None
        new: Failure | None = None
        value: Any = None
        rolled_back: list[str] = []
        for repeat in range(policy.attempts):
            run: RuleRun = yield ApplyRule(match, failure.context)
            rolled_back += run.rolled_back
            if not run.ok:
                outcome, error = "action_error", run.error
                break
            if rule.retry is not None:
                delay = backoff_s(policy, repeat + 1)
                services.emit(
                    RecoveryEvent(
                        "retry",
                        {
                            "rule": rule.name,
                            "level": level,
                            "attempt": repeat + 1,
                            "attempts": policy.attempts,
                            "delay_s": delay,
                        },
                    )
                )
                yield Sleep(delay)
            result: JobResult = yield RunJob()
            if result.failure is None:
                outcome, value = "success", result.value
                break
            new = result.failure
            again = match_rule(rule, prepare(new.context))
            if again is not None and again == match.captures:
                failure, outcome = new, "failure"
                if run.changes:  # the fix did not fix: it leaves nothing behind
                    undone: list[str] = yield Rollback(run)
                    rolled_back += undone
                    services.emit(
                        RecoveryEvent("rolled_back", {"rule": rule.name, "undone": undone})
                    )
                continue
            outcome = "progress"
            break

        attempt = Attempt(
            rule.name,
            level,
            number,
            outcome,
            dict(match.captures),
            error,
            round(clock() - started, 4),
        )
        attempts.append(attempt)
        observation = {
            "target": settings.target,
            "rule": rule.name,
            "captures": match.captures,
            "outcome": outcome,
            "depth": level,
            "attempt": number,
            "duration_s": attempt.duration_s,
            "error": error,
        }
        if run.changes and outcome in ("success", "progress"):
            observation["changes"] = list(run.changes)
        if rolled_back:
            observation["rolled_back"] = rolled_back
        llm_record: dict[str, Any] = {}
        usage = getattr(run, "usage", None)  # an llm_config rule: what its conversation spent
        if usage is not None and rule.kind == "llm":
            verified = outcome in ("success", "progress")
            observation["llm"] = {
                "kind": "llm_action",
                "model": getattr(run, "model", None),
                "tokens": usage.input_tokens + usage.output_tokens,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "outcome": "success" if verified else "failure",
            }
        if explored is not None and explored.match is not None:
            verified = outcome in ("success", "progress")
            llm_record = {**explored.record, "outcome": "success" if verified else "failure"}
            observation["llm"] = llm_record
        state["_observation"] = observation
        if outcome in ("success", "progress"):
            services.promote(rule)
        elif explored is not None and explored.match is not None:
            why = error or "the job failed the same way after the rule ran"
            rejection = services.reject(rule, f"{outcome}: {why}")
            rejections.append(rejection)
            llm_record["rejection"] = rejection
        if outcome == "success":
            _call_teardown(settings, state, number, True)
            services.record(rule, attempt, observation)
            services.emit(RecoveryEvent("recovered", {"rule": rule.name, "level": level}))
            return Outcome(True, value=value, attempts=attempts, reason="recovered", levels=level)
        if outcome == "progress":
            assert new is not None
            services.emit(RecoveryEvent("progress", {"rule": rule.name, "level": level}))
            new_fp = fingerprint(new.context)
            if new_fp in seen:
                reason = "cycle: a fix brought back a failure seen at an earlier level"
            elif level >= settings.max_depth:
                reason = f"a new failure at depth {level + 1} (max_depth={settings.max_depth})"
            else:
                reason = ""
            failure = new
            if reason:
                state["_give_up_reason"] = reason
                _call_teardown(settings, state, number, False)
                services.record(rule, attempt, observation)
                level += 1
                return stop(reason)
            _call_teardown(settings, state, number, False)
            services.record(rule, attempt, observation)
            seen.add(new_fp)
            level += 1
            tried = []
            explorations, rejections = 0, []
            continue
        if RECOGNISE_ONLY_TAG in rule.tags and outcome == "action_error":
            # the rule recognised a failure only a person can fix: say what to do, stop
            _call_teardown(settings, state, number, False)
            services.record(rule, attempt, observation)
            steps = run.steps
            message = (steps[-1].error if steps and steps[-1].error else error) or rule.name
            return stop(message, kind="needs_you")
        services.emit(
            RecoveryEvent("rule_failed", {"rule": rule.name, "outcome": outcome, "error": error})
        )
        # look ahead, so the last attempt's teardown can be told why recovery ends
        lookahead = _next(settings, services, failure, tried)
        if lookahead[0]:
            state["_give_up_reason"] = lookahead[0]
        _call_teardown(settings, state, number, False)
        services.record(rule, attempt, observation)


def _no_explorer(request: Explore) -> Explored:
    return Explored(reason="this driver was given no explorer", explored=False)


def run_sync(
    gen: Generator[Request, Any, Outcome],
    job: Callable[[], JobResult],
    apply: Callable[[ApplyRule], RuleRun],
    sleep: Callable[[float], None],
    explore: Callable[[Explore], Explored] = _no_explorer,
) -> Outcome:
    """Drive :func:`recovery` with blocking calls (``explore`` answers :class:`Explore`).

    A ``KeyboardInterrupt`` (Ctrl-C, or a signal the CLI turns into one) while a fix is
    applied but not yet verified (its backoff or the job's re-run) rolls that fix back
    before it propagates: an interrupted recovery leaves no unverified change behind.
    """
    answer: Any = None
    unverified: RuleRun | None = None
    while True:
        try:
            request = gen.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if isinstance(request, ApplyRule | Explore):
            unverified = None  # the previous fix was judged
        try:
            if isinstance(request, RunJob):
                answer = job()
            elif isinstance(request, ApplyRule):
                answer = unverified = apply(request)
            elif isinstance(request, Explore):
                answer = explore(request)
            elif isinstance(request, Rollback):
                answer, unverified = request.run.rollback(), None
            else:
                sleep(request.seconds)
                answer = None
        except KeyboardInterrupt:
            if unverified is not None:
                unverified.rollback()
            raise


async def run_async(
    gen: Generator[Request, Any, Outcome],
    job: Callable[[], Awaitable[JobResult]],
    apply: Callable[[ApplyRule], RuleRun],
    sleep: Callable[[float], Awaitable[None]],
    explore: Callable[[Explore], Explored] = _no_explorer,
) -> Outcome:
    """Drive :func:`recovery` on an event loop: the job is awaited; actions and explorations
    run in a worker thread. An interrupt or cancellation before a fix is verified rolls it
    back, as in :func:`run_sync`."""
    import asyncio

    answer: Any = None
    unverified: RuleRun | None = None
    while True:
        try:
            request = gen.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if isinstance(request, ApplyRule | Explore):
            unverified = None
        try:
            if isinstance(request, RunJob):
                answer = await job()
            elif isinstance(request, ApplyRule):
                answer = unverified = await asyncio.to_thread(apply, request)
            elif isinstance(request, Explore):
                answer = await asyncio.to_thread(explore, request)
            elif isinstance(request, Rollback):
                answer, unverified = await asyncio.to_thread(request.run.rollback), None
            else:
                await sleep(request.seconds)
                answer = None
        except (KeyboardInterrupt, asyncio.CancelledError):
            if unverified is not None:
                unverified.rollback()
            raise
