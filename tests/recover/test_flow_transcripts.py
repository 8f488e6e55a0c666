"""The recovery flow driven alone, transcript by transcript (as h11's ``test_state.py``).

Each test sends scripted answers and asserts the exact next request. No engine, no processes,
no services object: the flow asks, the test answers. The hooks in the settings are never
called by the flow (they raise if they are): calling them is the driver's job.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from tether.actions.run import RuleRun, StepResult
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
from tether.recover.flow import recovery
from tether.recover.model import (
    RECOGNISE_ONLY_TAG,
    Attempt,
    Failure,
    JobResult,
    Outcome,
    RecoverySettings,
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
from tether.rules.model import Backoff, Fact, Rule, Step

LOCK = {"stderr": "fatal: index.lock exists"}
MISSING = {"stderr": "ModuleNotFoundError: No module named 'yaml'"}
DISK = {"stderr": "No space left on device"}


def rule(name: str, needle: str, **fields: Any) -> Rule:
    return Rule(
        name=name, when=[Fact(fact="stderr", contains=needle)], then=[Step(action="noop")], **fields
    )


LOCK_RULE = rule("remove-lock", "index.lock")
OTHER_LOCK_RULE = rule("wait-for-git", "index.lock")
MISSING_RULE = rule("install-module", "ModuleNotFoundError")
DISK_RULE = rule("free-disk", "No space left")


class Ticks:
    """A clock that advances half a second per reading."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


class Changed(RuleRun):
    """A rule run whose steps changed something (what a :class:`FixContext` would journal)."""

    @property
    def changes(self) -> list[str]:
        return ["created tmp/cache"]


def start(
    first: Failure, settings: RecoverySettings
) -> tuple[Generator[Request, Any, Outcome], Request]:
    gen = recovery(first, settings, clock=Ticks())
    return gen, next(gen)


def send(gen: Generator[Request, Any, Outcome], answer: Any = None) -> Request:
    """The next request after ``answer``; the test fails if the flow ends instead."""
    return gen.send(answer)


def end(gen: Generator[Request, Any, Outcome], answer: Any = None) -> Outcome:
    """The outcome after ``answer``; the test fails if the flow asks for more."""
    with pytest.raises(StopIteration) as stop:
        request = gen.send(answer)
        pytest.fail(f"the flow asked for more: {request!r}")
    outcome: Outcome = stop.value.value
    return outcome


def observation(
    rule: Rule, outcome: str, depth: int = 1, number: int = 1, **extra: Any
) -> dict[str, Any]:
    return {
        "target": "",
        "rule": rule.name,
        "captures": {},
        "outcome": outcome,
        "depth": depth,
        "attempt": number,
        "duration_s": 0.5,
        "error": None,
        **extra,
    }


def test_no_rule_matches_ends_after_asking_for_candidates() -> None:
    first = Failure(dict(LOCK), 1)
    settings = RecoverySettings()
    gen, request = start(first, settings)
    assert request == Candidates(LOCK, settings, [])
    assert send(gen, []) == Emit(GaveUp("no rule matches this failure", 0))
    outcome = end(gen)
    assert not outcome.recovered and outcome.failure is first and outcome.attempts == []


def test_first_try_success() -> None:
    first, settings = Failure(dict(LOCK), 1), RecoverySettings()
    gen, request = start(first, settings)
    assert request == Candidates(LOCK, settings, [])
    match = Match(LOCK_RULE)
    assert send(gen, [match]) == Emit(AttemptStarted("remove-lock", 1, 1, {}))
    assert send(gen) == ApplyRule(match, LOCK)
    assert send(gen, RuleRun("remove-lock")) == RunJob()
    assert send(gen, JobResult(value=42)) == Promote(LOCK_RULE)
    attempt = Attempt("remove-lock", 1, 1, "success", {}, None, 0.5)
    assert send(gen) == Record(LOCK_RULE, attempt, observation(LOCK_RULE, "success"))
    assert send(gen) == Emit(Recovered("remove-lock", 1))
    outcome = end(gen)
    assert outcome.recovered and outcome.value == 42 and outcome.attempts == [attempt]
    assert outcome.reason == "recovered" and outcome.levels == 1


def test_same_error_rolls_back_and_the_next_rule_fixes_it() -> None:
    first, settings = Failure(dict(LOCK), 1), RecoverySettings()
    gen, _ = start(first, settings)
    first_match, second_match = Match(LOCK_RULE), Match(OTHER_LOCK_RULE)
    assert send(gen, [first_match, second_match]) == Emit(AttemptStarted("remove-lock", 1, 1, {}))
    assert send(gen) == ApplyRule(first_match, LOCK)
    changed = Changed("remove-lock")
    assert send(gen, changed) == RunJob()
    again = Failure(dict(LOCK), 1)
    assert send(gen, JobResult(failure=again)) == Rollback(changed)
    assert send(gen, ["removed tmp/cache"]) == Emit(
        RolledBack("remove-lock", ["removed tmp/cache"])
    )
    assert send(gen) == Emit(RuleFailed("remove-lock", "failure", None))
    # the rule that failed is left out of the next look-up
    assert send(gen) == Candidates(LOCK, settings, ["remove-lock"])
    failed = Attempt("remove-lock", 1, 1, "failure", {}, None, 0.5)
    assert send(gen, [second_match]) == Record(
        LOCK_RULE, failed, observation(LOCK_RULE, "failure", rolled_back=["removed tmp/cache"])
    )
    assert send(gen) == Emit(AttemptStarted("wait-for-git", 1, 2, {}))
    assert send(gen) == ApplyRule(second_match, LOCK)
    assert send(gen, Changed("wait-for-git")) == RunJob()
    assert send(gen, JobResult(value="ok")) == Promote(OTHER_LOCK_RULE)
    fixed = Attempt("wait-for-git", 1, 2, "success", {}, None, 0.5)
    assert send(gen) == Record(
        OTHER_LOCK_RULE,
        fixed,
        observation(OTHER_LOCK_RULE, "success", number=2, changes=["created tmp/cache"]),
    )
    assert send(gen) == Emit(Recovered("wait-for-git", 1))
    outcome = end(gen)
    assert outcome.recovered and outcome.attempts == [failed, fixed]


def test_max_retries_ends_the_level_without_another_look_up() -> None:
    first, settings = Failure(dict(LOCK), 1), RecoverySettings(max_retries=1)
    gen, _ = start(first, settings)
    match = Match(LOCK_RULE)
    send(gen, [match])
    send(gen)
    assert send(gen, RuleRun("remove-lock")) == RunJob()
    assert send(gen, JobResult(failure=Failure(dict(LOCK), 1))) == Emit(
        RuleFailed("remove-lock", "failure", None)
    )
    assert isinstance(send(gen), Record)  # no Candidates: max_retries is reached
    reason = "tried 1 rule(s) for this error (max_retries=1)"
    assert send(gen) == Emit(GaveUp(reason, 1))
    outcome = end(gen)
    assert outcome.failure is first and outcome.reason == reason


def test_progress_goes_one_level_deeper() -> None:
    first, settings = Failure(dict(LOCK), 1), RecoverySettings()
    gen, _ = start(first, settings)
    match = Match(LOCK_RULE)
    send(gen, [match])
    send(gen)
    assert send(gen, RuleRun("remove-lock")) == RunJob()
    deeper = Failure(dict(MISSING), 1)
    assert send(gen, JobResult(failure=deeper)) == Promote(LOCK_RULE)
    assert send(gen) == Emit(Progressed("remove-lock", 1))
    attempt = Attempt("remove-lock", 1, 1, "progress", {}, None, 0.5)
    assert send(gen) == Record(LOCK_RULE, attempt, observation(LOCK_RULE, "progress"))
    # level 2: the new failure, nothing tried yet
    assert send(gen) == Candidates(MISSING, settings, [])
    second = Match(MISSING_RULE)
    assert send(gen, [second]) == Emit(AttemptStarted("install-module", 2, 2, {}))
    assert send(gen) == ApplyRule(second, MISSING)
    assert send(gen, RuleRun("install-module")) == RunJob()
    assert send(gen, JobResult(failure=Failure(dict(MISSING), 1))) == Emit(
        RuleFailed("install-module", "failure", None)
    )
    assert send(gen) == Candidates(MISSING, settings, ["install-module"])
    assert isinstance(send(gen, []), Record)
    assert send(gen) == Emit(GaveUp("no other rule matches", 2))
    outcome = end(gen)
    # after progress, the deepest failure is what the caller gets back
    assert outcome.levels == 2 and outcome.failure is not first
    assert outcome.failure is not None and outcome.failure.context == MISSING


def test_a_failure_seen_at_an_earlier_level_is_a_cycle_and_stops() -> None:
    first, settings = Failure(dict(LOCK), 1), RecoverySettings()
    gen, _ = start(first, settings)
    send(gen, [Match(LOCK_RULE)])
    send(gen)
    send(gen, RuleRun("remove-lock"))
    assert send(gen, JobResult(failure=Failure(dict(MISSING), 1))) == Promote(LOCK_RULE)
    send(gen)  # progress
    send(gen)  # record
    assert send(gen) == Candidates(MISSING, settings, [])
    send(gen, [Match(MISSING_RULE)])
    send(gen)
    send(gen, RuleRun("install-module"))
    back = Failure(dict(LOCK), 1)  # the fix brought the first failure back
    assert send(gen, JobResult(failure=back)) == Promote(MISSING_RULE)
    assert send(gen) == Emit(Progressed("install-module", 2))
    assert isinstance(send(gen), Record)
    reason = "cycle: a fix brought back a failure seen at an earlier level"
    assert send(gen) == Emit(GaveUp(reason, 2))
    outcome = end(gen)
    assert outcome.reason == reason and outcome.failure is back and outcome.levels == 3


def test_max_depth_stops_at_a_new_failure_below_the_last_level() -> None:
    first, settings = Failure(dict(LOCK), 1), RecoverySettings(max_depth=1)
    gen, _ = start(first, settings)
    send(gen, [Match(LOCK_RULE)])
    send(gen)
    send(gen, RuleRun("remove-lock"))
    assert send(gen, JobResult(failure=Failure(dict(DISK), 1))) == Promote(LOCK_RULE)
    assert send(gen) == Emit(Progressed("remove-lock", 1))
    assert isinstance(send(gen), Record)
    assert send(gen) == Emit(GaveUp("a new failure at depth 2 (max_depth=1)", 1))


def test_an_explored_rule_that_verifies_is_promoted() -> None:
    first = Failure(dict(DISK), 1)
    settings = RecoverySettings(explore=True, target="build", hint="look at /tmp")
    gen, _ = start(first, settings)
    assert send(gen, []) == Explore(
        DISK, 1, [], [], target="build", hint="look at /tmp", collection="default"
    )
    explored = Match(DISK_RULE)
    record = {"model": "scripted", "tokens": 120}
    answer = Explored(match=explored, reason="explored", record=record)
    assert send(gen, answer) == Emit(AttemptStarted("free-disk", 1, 1, {}))
    assert send(gen) == ApplyRule(explored, DISK)
    assert send(gen, RuleRun("free-disk")) == RunJob()
    assert send(gen, JobResult(value=0)) == Promote(DISK_RULE)
    attempt = Attempt("free-disk", 1, 1, "success", {}, None, 0.5)
    llm = {"model": "scripted", "tokens": 120, "outcome": "success"}
    assert send(gen) == Record(
        DISK_RULE, attempt, observation(DISK_RULE, "success", target="build", llm=llm)
    )
    assert send(gen) == Emit(Recovered("free-disk", 1))
    assert end(gen).recovered


def test_an_explored_rule_that_fails_is_rejected_and_the_rejection_goes_to_the_escalation() -> None:
    first = Failure(dict(DISK), 1)
    settings = RecoverySettings(explore=True, allow_escalation=True)
    gen, _ = start(first, settings)
    assert send(gen, []) == Explore(DISK, 1, [], [], collection="default", allow_escalation=True)
    explored = Match(DISK_RULE)
    send(gen, Explored(match=explored, record={"model": "scripted"}))
    send(gen)
    send(gen, RuleRun("free-disk"))
    why = "failure: the job failed the same way after the rule ran"
    assert send(gen, JobResult(failure=Failure(dict(DISK), 1))) == Reject(DISK_RULE, why)
    rejection = "rule 'free-disk' did not fix it"
    assert send(gen, rejection) == Emit(RuleFailed("free-disk", "failure", None))
    assert send(gen) == Candidates(DISK, settings, ["free-disk"])
    attempt = Attempt("free-disk", 1, 1, "failure", {}, None, 0.5)
    llm = {"model": "scripted", "outcome": "failure", "rejection": rejection}
    assert send(gen, []) == Record(DISK_RULE, attempt, observation(DISK_RULE, "failure", llm=llm))
    # the second exploration of this level: on the secondary model, told why the first failed
    assert send(gen) == Explore(
        DISK,
        1,
        ["free-disk"],
        [rejection],
        escalate=True,
        collection="default",
        allow_escalation=True,
    )
    assert send(gen, Explored(reason="gave up: no idea")) == Emit(
        GaveUp("no other rule matches; exploration ended: gave up: no idea", 1)
    )
    assert not end(gen).recovered


def test_exploration_not_possible_ends_recovery_with_why() -> None:
    first, settings = Failure(dict(DISK), 1), RecoverySettings(explore=True, allow_escalation=True)
    gen, _ = start(first, settings)
    assert isinstance(send(gen, []), Explore)
    reason = "no rule matches this failure; not explored: no model configured"
    answer = Explored(reason="no model configured", explored=False)
    assert send(gen, answer) == Emit(GaveUp(reason, 0))  # no escalation: no model was involved
    assert end(gen).reason == reason


def test_the_explorer_fixing_it_directly_is_verified_by_a_re_run() -> None:
    first, settings = Failure(dict(DISK), 1), RecoverySettings(explore=True)
    gen, _ = start(first, settings)
    assert isinstance(send(gen, []), Explore)
    assert send(gen, Explored(rerun=True)) == RunJob()
    assert send(gen, JobResult(value="fine")) == Emit(Recovered("explorer", 1))
    outcome = end(gen)
    assert outcome.recovered and outcome.value == "fine"
    assert outcome.attempts == [Attempt("explorer", 1, 1, "success")]


def test_a_retry_rule_backs_off_between_re_runs() -> None:
    flaky = rule(
        "wait-for-lock", "index.lock", retry=Backoff(attempts=3, backoff_s=1.0, jitter=False)
    )
    first, settings = Failure(dict(LOCK), 1), RecoverySettings()
    gen, _ = start(first, settings)
    match = Match(flaky)
    send(gen, [match])
    assert send(gen) == ApplyRule(match, LOCK)
    assert send(gen, RuleRun("wait-for-lock")) == Emit(
        RetryScheduled("wait-for-lock", 1, 1, 3, 1.0)
    )
    assert send(gen) == Sleep(1.0)
    assert send(gen) == RunJob()
    assert send(gen, JobResult(failure=Failure(dict(LOCK), 1))) == ApplyRule(match, LOCK)
    assert send(gen, RuleRun("wait-for-lock")) == Emit(
        RetryScheduled("wait-for-lock", 1, 2, 3, 2.0)
    )
    assert send(gen) == Sleep(2.0)
    assert send(gen) == RunJob()
    assert send(gen, JobResult(value=1)) == Promote(flaky)


def test_setup_and_teardown_are_requests_around_each_attempt() -> None:
    def setup(state: dict[str, Any], number: int) -> dict[str, Any] | None:
        raise AssertionError("the flow never calls a hook itself")

    def teardown(state: dict[str, Any], number: int, success: bool) -> None:
        raise AssertionError("the flow never calls a hook itself")

    first = Failure(dict(LOCK), 1)
    settings = RecoverySettings(setup=setup, teardown=teardown, state={"db": "a"}, target="sync")
    gen, _ = start(first, settings)
    first_match, second_match = Match(LOCK_RULE), Match(OTHER_LOCK_RULE)
    assert send(gen, [first_match, second_match]) == Setup(setup, {"db": "a"}, 1)
    assert send(gen, {"db": "b"}) == Emit(AttemptStarted("remove-lock", 1, 1, {}))
    send(gen)
    send(gen, RuleRun("remove-lock"))
    send(gen, JobResult(failure=Failure(dict(LOCK), 1)))  # rule failed
    send(gen)  # the look-ahead
    request = send(gen, [second_match])
    assert isinstance(request, Teardown) and (request.hook, request.number, request.success) == (
        teardown,
        1,
        False,
    )
    # the state the setup returned, with what the teardown is told
    assert request.state["db"] == "b" and request.state["_fn_name"] == "sync"
    assert request.state["_observation"]["outcome"] == "failure"
    assert "_give_up_reason" not in request.state  # recovery goes on
    assert isinstance(send(gen), Record)  # the record comes after the teardown
    assert send(gen) == Setup(setup, request.state, 2)
    assert send(gen) == Emit(AttemptStarted("wait-for-git", 1, 2, {}))  # None: state kept
    send(gen)
    send(gen, RuleRun("wait-for-git"))
    send(gen, JobResult(failure=Failure(dict(LOCK), 1)))
    assert send(gen) == Candidates(LOCK, settings, ["remove-lock", "wait-for-git"])
    last = send(gen, [])
    assert isinstance(last, Teardown) and last.number == 2 and last.success is False
    assert last.state["_give_up_reason"] == "no other rule matches"


def test_a_setup_hook_that_raises_ends_recovery_with_its_error() -> None:
    def setup(state: dict[str, Any], number: int) -> dict[str, Any] | None:
        raise AssertionError("the flow never calls a hook itself")

    first = Failure(dict(LOCK), 1)
    gen, _ = start(first, RecoverySettings(setup=setup))
    assert isinstance(send(gen, [Match(LOCK_RULE)]), Setup)
    # the driver throws the hook's error into the flow at its request
    reason = "setup hook raised: ConnectionError: no database"
    assert gen.throw(ConnectionError("no database")) == Emit(GaveUp(reason, 0))
    outcome = end(gen)
    assert outcome.reason == reason and outcome.failure is first


def test_a_recognise_only_rule_stops_with_what_the_user_must_do() -> None:
    conflict = rule("merge-conflict", "CONFLICT", tags=[RECOGNISE_ONLY_TAG])
    context = {"stderr": "CONFLICT (content): Merge conflict in app.py"}
    first, settings = Failure(dict(context), 1), RecoverySettings()
    gen, _ = start(first, settings)
    match = Match(conflict)
    send(gen, [match, Match(LOCK_RULE)])
    assert send(gen) == ApplyRule(match, context)
    said = "resolve the conflict markers in app.py, then commit"
    run = RuleRun(
        "merge-conflict",
        steps=[StepResult("check_conflict", {}, ok=False, error=said)],
        error="step check_conflict failed",
    )
    request = send(gen, run)  # no re-run: the action said no
    assert isinstance(request, Record) and request.attempt.outcome == "action_error"
    assert send(gen) == Emit(NeedsYou(said, 1))  # and no other rule is tried
    outcome = end(gen)
    assert not outcome.recovered and outcome.reason == said


def test_an_action_error_of_an_ordinary_rule_tries_the_next() -> None:
    first, settings = Failure(dict(LOCK), 1), RecoverySettings()
    gen, _ = start(first, settings)
    send(gen, [Match(LOCK_RULE)])
    send(gen)
    assert send(gen, RuleRun("remove-lock", error="boom")) == Emit(
        RuleFailed("remove-lock", "action_error", "boom")
    )
    assert send(gen) == Candidates(LOCK, settings, ["remove-lock"])


def test_the_flow_module_does_no_io() -> None:
    """flow.py imports nothing that does I/O and calls no sleep, open, print or warning."""
    import ast
    from pathlib import Path

    import tether.recover.flow as flow

    tree = ast.parse(Path(flow.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    allowed = {"__future__", "random", "time", "collections.abc", "dataclasses", "typing"}
    outside = {name for name in imported if name not in allowed}
    assert all(
        name.startswith(("tether.recover.", "tether.rules.", "tether.actions.run"))
        for name in outside
    )
    assert "tether.recover.drive" not in outside
    called = {
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert not called & {"sleep", "open", "print", "warn", "write_text", "run", "monotonic"}
