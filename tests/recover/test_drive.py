"""The drivers: each request answered by its services method, errors thrown into the flow, the
flow closed whatever happens, and the async driver awaiting what may block."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator
from typing import Any, ClassVar

import pytest

from tether.actions.run import RuleRun
from tether.recover.drive import JobServices, run_async, run_sync
from tether.recover.events import RecoveryEvent
from tether.recover.flow import recovery
from tether.recover.model import Attempt, Failure, JobResult, Outcome, RecoverySettings
from tether.recover.requests import ApplyRule, Explore, Explored, Request, RunJob, Sleep
from tether.rules.book import Match
from tether.rules.model import Backoff, Fact, Rule, Step

LOCK = {"stderr": "fatal: index.lock exists"}
LOCK_RULE = Rule(
    name="remove-lock",
    when=[Fact(fact="stderr", contains="index.lock")],
    then=[Step(action="noop")],
    retry=Backoff(attempts=2, backoff_s=0.25, jitter=False),
)


class Engine:
    """The engine's side of the services, recording what it was asked, in order."""

    def __init__(self, candidates: list[Match] | None = None) -> None:
        self.calls: list[str] = []
        self.events: list[RecoveryEvent] = []
        self.threads: list[int] = []
        self.matches = candidates if candidates is not None else [Match(LOCK_RULE)]
        self.sleep: Callable[[float], None] = lambda seconds: None
        self.clock: Callable[[], float] = lambda: 0.0

    def settings(self, **overrides: Any) -> RecoverySettings:
        return RecoverySettings(**overrides)

    def exploration_on(self) -> bool:
        return False

    def prepare(self) -> None:
        self.calls.append("prepare")

    def notice(self, reason: str) -> None:
        self.calls.append(f"notice {reason}")

    def apply_rule(self, request: ApplyRule) -> RuleRun:
        self.calls.append(f"apply {request.match.rule.name}")
        self.threads.append(threading.get_ident())
        return RuleRun(request.match.rule.name)

    def explore(self, request: Explore) -> Explored:
        self.calls.append("explore")
        return Explored(reason="none", explored=False)

    def candidates(
        self, context: Any, settings: RecoverySettings, exclude: list[str]
    ) -> list[Match]:
        self.calls.append(f"candidates {exclude}")
        return [m for m in self.matches if m.rule.name not in exclude]

    def record(self, rule: Rule, attempt: Attempt, observation: dict[str, Any]) -> None:
        self.calls.append(f"record {rule.name} {attempt.outcome}")

    def promote(self, rule: Rule) -> None:
        self.calls.append(f"promote {rule.name}")

    def reject(self, rule: Rule, reason: str) -> str:
        self.calls.append(f"reject {rule.name}")
        return reason

    def emit(self, event: RecoveryEvent) -> None:
        self.calls.append(f"emit {event.kind}")
        self.events.append(event)


def passes_on(run: int) -> Callable[[], JobResult]:
    """A job that fails with LOCK until its ``run``-th re-run."""
    runs: list[int] = []

    def job() -> JobResult:
        runs.append(1)
        if len(runs) >= run:
            return JobResult(value=len(runs))
        return JobResult(failure=Failure(dict(LOCK), 1))

    return job


def test_run_sync_answers_each_request_with_its_services_method() -> None:
    engine, waits = Engine(), list[float]()
    hooks: list[str] = []

    def setup(state: dict[str, Any], number: int) -> None:
        hooks.append(f"setup {number}")

    def teardown(state: dict[str, Any], number: int, success: bool) -> None:
        hooks.append(f"teardown {number} {success}")

    settings = RecoverySettings(setup=setup, teardown=teardown)
    gen = recovery(Failure(dict(LOCK), 1), settings, clock=lambda: 0.0)
    outcome = run_sync(gen, JobServices(engine, passes_on(2), waits.append))
    assert outcome.recovered and outcome.value == 2
    assert engine.calls == [
        "candidates []",
        "emit attempt",
        "apply remove-lock",
        "emit retry",
        "apply remove-lock",
        "emit retry",
        "promote remove-lock",
        "record remove-lock success",
        "emit recovered",
    ]
    assert waits == [0.25, 0.5]
    assert hooks == ["setup 1", "teardown 1 True"]


def test_a_setup_hook_error_is_thrown_into_the_flow_which_gives_up_with_it() -> None:
    def setup(state: dict[str, Any], number: int) -> None:
        raise ConnectionError("no database")

    engine = Engine()
    gen = recovery(Failure(dict(LOCK), 1), RecoverySettings(setup=setup))
    outcome = run_sync(gen, JobServices(engine, passes_on(1), lambda s: None))
    assert outcome.reason == "setup hook raised: ConnectionError: no database"
    assert engine.calls == ["candidates []", "emit gave_up"]


def test_a_teardown_error_is_warned_about_unless_the_state_asks_for_it() -> None:
    def teardown(state: dict[str, Any], number: int, success: bool) -> None:
        raise OSError("disk gone")

    engine = Engine()
    settings = RecoverySettings(teardown=teardown)
    gen = recovery(Failure(dict(LOCK), 1), settings)
    with pytest.warns(RuntimeWarning, match="teardown hook raised on attempt 1: OSError"):
        assert run_sync(gen, JobServices(engine, passes_on(1), lambda s: None)).recovered

    settings = RecoverySettings(teardown=teardown, state={"suppress_exc": False})
    gen = recovery(Failure(dict(LOCK), 1), settings)
    with pytest.raises(OSError, match="disk gone") as raised:
        run_sync(gen, JobServices(engine, passes_on(1), lambda s: None))
    assert getattr(raised.value, "__tether_propagate__", False) is True


def flow_that_notes_its_close(closed: list[str]) -> Generator[Request, Any, Outcome]:
    try:
        yield RunJob()
        yield Sleep(1.0)
    finally:
        closed.append("closed")
    return Outcome(True)


@pytest.mark.parametrize("problem", [ValueError("bad answer"), KeyboardInterrupt()])
def test_the_driver_closes_the_flow_when_an_answer_raises(problem: BaseException) -> None:
    closed: list[str] = []

    def job() -> JobResult:
        raise problem

    with pytest.raises(type(problem)):
        run_sync(flow_that_notes_its_close(closed), JobServices(Engine(), job, lambda s: None))
    assert closed == ["closed"]


def test_the_sync_driver_refuses_an_awaitable_answer() -> None:
    async def job() -> JobResult:
        return JobResult(value=1)

    closed: list[str] = []
    with pytest.raises(TypeError, match="RunJob's answer is awaitable: drive with run_async"):
        run_sync(flow_that_notes_its_close(closed), JobServices(Engine(), job, lambda s: None))
    assert closed == ["closed"]


def test_run_async_awaits_the_job_and_the_wait_and_applies_rules_in_a_thread() -> None:
    engine, waited = Engine(), []
    runs: list[int] = []

    async def job() -> JobResult:
        await asyncio.sleep(0)
        runs.append(1)
        if len(runs) < 2:
            return JobResult(failure=Failure(dict(LOCK), 1))
        return JobResult(value="done")

    async def wait(seconds: float) -> None:
        waited.append(seconds)

    async def main() -> Outcome:
        gen = recovery(Failure(dict(LOCK), 1), RecoverySettings())
        return await run_async(gen, JobServices(engine, job, wait))

    outcome = asyncio.run(main())
    assert outcome.recovered and outcome.value == "done"
    assert waited == [0.25, 0.5]
    assert engine.threads and threading.get_ident() not in engine.threads


class Undoable(RuleRun):
    """A run whose steps changed something; its rollback is recorded."""

    undone: ClassVar[list[str]] = []

    @property
    def changes(self) -> list[str]:
        return ["created build/"]

    def rollback(self) -> list[str]:
        self.undone.append(self.rule)
        return ["removed build/"]


class UndoableEngine(Engine):
    def apply_rule(self, request: ApplyRule) -> RuleRun:
        return Undoable(request.match.rule.name)


def test_ctrl_c_after_the_fix_was_judged_keeps_it() -> None:
    """A verified fix (progress: a new failure underneath) stays when Ctrl-C hits its teardown."""
    Undoable.undone = []
    fixes = Rule(
        name="fix", when=[Fact(fact="stderr", contains="index.lock")], then=[Step(action="noop")]
    )

    def teardown(state: dict[str, Any], number: int, success: bool) -> None:
        raise KeyboardInterrupt

    def job() -> JobResult:
        return JobResult(failure=Failure({"stderr": "a new failure underneath"}, 1))

    gen = recovery(Failure(dict(LOCK), 1), RecoverySettings(teardown=teardown))
    with pytest.raises(KeyboardInterrupt):
        run_sync(gen, JobServices(UndoableEngine([Match(fixes)]), job, lambda s: None))
    assert Undoable.undone == []


def test_ctrl_c_during_the_backoff_rolls_the_unverified_fix_back() -> None:
    Undoable.undone = []

    def wait(seconds: float) -> None:
        raise KeyboardInterrupt

    gen = recovery(Failure(dict(LOCK), 1), RecoverySettings())
    with pytest.raises(KeyboardInterrupt):
        run_sync(gen, JobServices(UndoableEngine(), passes_on(1), wait))
    assert Undoable.undone == ["remove-lock"]
