"""The drivers of the recovery flow: they answer its requests, and do all of its I/O.

:func:`run_sync` and :func:`run_async` take the flow (:func:`tether.recover.flow.recovery`) and
a complete :class:`RecoveryServices` (one method per request, named as the request). They send
each answer back, throw an answer's exception into the flow at its request, and close the flow
in ``finally`` whatever happens (as httpx's ``_send_handling_auth`` does with
``Auth.auth_flow``).

:class:`EngineServices` is what recovery needs from the engine (the composition root), which
knows nothing of one job; :class:`JobServices` binds it to one job and one way to wait, and is
the :class:`RecoveryServices` ``@mark`` and ``Tether.run_command`` drive with.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol

from tether._types import Context
from tether.actions.run import RuleRun
from tether.recover.events import RecoveryEvent
from tether.recover.model import Attempt, JobResult, Outcome, RecoverySettings
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
from tether.rules.model import Rule

__all__ = [
    "EngineServices",
    "JobServices",
    "RecoveryServices",
    "call_teardown",
    "run_async",
    "run_sync",
]


class RecoveryServices(Protocol):
    """Everything the recovery flow asks for: one method per request, each given the request.

    ``run_job`` and ``sleep`` may return an awaitable under :func:`run_async` (the job is a
    coroutine function, the wait ``asyncio.sleep``); every other method answers at once.
    ``record``, ``promote``, ``reject`` and ``emit`` must not raise.
    """

    def run_job(self, request: RunJob) -> JobResult | Awaitable[JobResult]:
        """Run the job again."""
        ...

    def apply_rule(self, request: ApplyRule) -> RuleRun:
        """Run the rule's steps where the job failed."""
        ...

    def rollback(self, request: Rollback) -> list[str]:
        """Undo what the run's steps changed; what was undone."""
        ...

    def sleep(self, request: Sleep) -> Awaitable[None] | None:
        """Wait ``request.seconds`` seconds."""
        ...

    def explore(self, request: Explore) -> Explored:
        """Let the explorer look for a rule."""
        ...

    def candidates(self, request: Candidates) -> list[Match]:
        """Matching rules, best first, leaving out ``request.exclude``."""
        ...

    def setup(self, request: Setup) -> dict[str, Any] | None:
        """Call the setup hook; what it returned."""
        ...

    def teardown(self, request: Teardown) -> None:
        """Call the teardown hook."""
        ...

    def record(self, request: Record) -> None:
        """Persist one attempt (statistics and observations)."""
        ...

    def promote(self, request: Promote) -> None:
        """Make a verified ephemeral rule permanent."""
        ...

    def reject(self, request: Reject) -> str:
        """Drop an explored rule that did not verify; the rejection to show next time."""
        ...

    def emit(self, request: Emit) -> None:
        """Tell the watchers."""
        ...


class EngineServices(Protocol):
    """What recovery needs from the engine, for any job: what ``@mark`` needs (``sleep`` to
    ``notice``) and the job-independent answers (``apply_rule`` to ``emit``).

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

    def notice(self, reason: str) -> None:
        """Say once why exploration did not run."""
        ...

    def apply_rule(self, request: ApplyRule) -> RuleRun:
        """Answer :class:`ApplyRule`: run the rule's steps where the job failed."""
        ...

    def explore(self, request: Explore) -> Explored:
        """Answer :class:`Explore`: let the explorer look for a rule."""
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


def call_teardown(request: Teardown) -> None:
    """Call the teardown hook. An error is warned about, unless the state says
    ``suppress_exc: False``: then it propagates (marked so that ``@mark`` re-raises it)."""
    try:
        request.hook(request.state, request.number, request.success)
    except Exception as exc:
        if request.state.get("suppress_exc", True) is False:
            exc.__tether_propagate__ = True  # type: ignore[attr-defined]
            raise
        warnings.warn(
            f"tether: teardown hook raised on attempt {request.number}: "
            f"{type(exc).__name__}: {exc}",
            RuntimeWarning,
            stacklevel=2,
        )


@dataclass(frozen=True)
class JobServices:
    """A complete :class:`RecoveryServices`: one ``job``, its ``wait``, the engine for the rest.

    Attributes:
        engine: the engine's answers (:class:`EngineServices`).
        job: runs the job once: ``() -> JobResult`` (or an awaitable of one, for
            :func:`run_async`).
        wait: waits a number of seconds (or returns an awaitable that does).
    """

    engine: EngineServices
    job: Callable[[], JobResult | Awaitable[JobResult]]
    wait: Callable[[float], Awaitable[None] | None]

    def run_job(self, request: RunJob) -> JobResult | Awaitable[JobResult]:
        return self.job()

    def apply_rule(self, request: ApplyRule) -> RuleRun:
        return self.engine.apply_rule(request)

    def rollback(self, request: Rollback) -> list[str]:
        return request.run.rollback()

    def sleep(self, request: Sleep) -> Awaitable[None] | None:
        return self.wait(request.seconds)

    def explore(self, request: Explore) -> Explored:
        return self.engine.explore(request)

    def candidates(self, request: Candidates) -> list[Match]:
        return self.engine.candidates(request.context, request.settings, request.exclude)

    def setup(self, request: Setup) -> dict[str, Any] | None:
        return request.hook(request.state, request.number)

    def teardown(self, request: Teardown) -> None:
        call_teardown(request)

    def record(self, request: Record) -> None:
        self.engine.record(request.rule, request.attempt, request.observation)

    def promote(self, request: Promote) -> None:
        self.engine.promote(request.rule)

    def reject(self, request: Reject) -> str:
        return self.engine.reject(request.rule, request.reason)

    def emit(self, request: Emit) -> None:
        self.engine.emit(request.event)


def _method(services: RecoveryServices, request: Request) -> Callable[[Any], Any]:
    """The services method that answers ``request``."""
    match request:
        case RunJob():
            return services.run_job
        case ApplyRule():
            return services.apply_rule
        case Rollback():
            return services.rollback
        case Sleep():
            return services.sleep
        case Explore():
            return services.explore
        case Candidates():
            return services.candidates
        case Setup():
            return services.setup
        case Teardown():
            return services.teardown
        case Record():
            return services.record
        case Promote():
            return services.promote
        case Reject():
            return services.reject
        case Emit():
            return services.emit
    raise TypeError(f"the recovery flow asked for {request!r}, which is not a request")


_TRYING = (RunJob, Sleep, Emit, Rollback)
"""The requests a fix is tried (and undone) with: while the flow asks only for these after an
:class:`ApplyRule`, that fix is not yet verified, and an interrupt rolls it back. Any other
request means the flow has judged it."""


def run_sync(gen: Generator[Request, Any, Outcome], services: RecoveryServices) -> Outcome:
    """Drive the recovery flow ``gen`` with blocking calls to ``services``.

    A ``KeyboardInterrupt`` (Ctrl-C, or a signal the CLI turns into one) while a fix is
    applied but not yet verified (its backoff or the job's re-run) rolls that fix back
    before it propagates: an interrupted recovery leaves no unverified change behind. A fix
    the flow has judged (promoted, or undone already) is left as it is.

    Raises:
        TypeError: a services method returned an awaitable (use :func:`run_async`).
        Exception: an answer's error that the flow does not handle (all but a setup hook's).
    """
    unverified: RuleRun | None = None
    try:
        request = next(gen)
        while True:
            if not isinstance(request, _TRYING):
                unverified = None  # the last fix was judged
            failed: Exception | None = None
            try:
                answer = _method(services, request)(request)
                if inspect.isawaitable(answer):
                    _discard(answer)
                    raise TypeError(
                        f"{type(request).__name__}'s answer is awaitable: drive with run_async"
                    )
            except KeyboardInterrupt:
                if unverified is not None:
                    services.rollback(Rollback(unverified))
                raise
            except Exception as exc:
                failed = exc
            if failed is not None:
                request = gen.throw(failed)
                continue
            if isinstance(request, ApplyRule):
                unverified = answer
            elif isinstance(request, Rollback):
                unverified = None
            request = gen.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        gen.close()


async def run_async(gen: Generator[Request, Any, Outcome], services: RecoveryServices) -> Outcome:
    """Drive the recovery flow ``gen`` on an event loop.

    The job's re-run and the wait are awaited when they return awaitables; rules' steps,
    rollbacks and explorations run in a worker thread; the flow's other requests are answered
    on the loop. An interrupt or cancellation before a fix is verified rolls it back, as in
    :func:`run_sync`.

    Raises:
        Exception: an answer's error that the flow does not handle (all but a setup hook's).
    """
    import asyncio

    unverified: RuleRun | None = None
    try:
        request = next(gen)
        while True:
            if not isinstance(request, _TRYING):
                unverified = None  # the last fix was judged
            failed: Exception | None = None
            try:
                method = _method(services, request)
                if isinstance(request, ApplyRule | Explore | Rollback):
                    answer = await asyncio.to_thread(method, request)
                else:
                    answer = method(request)
                if inspect.isawaitable(answer):
                    answer = await answer
            except (KeyboardInterrupt, asyncio.CancelledError):
                if unverified is not None:
                    services.rollback(Rollback(unverified))
                raise
            except Exception as exc:
                failed = exc
            if failed is not None:
                request = gen.throw(failed)
                continue
            if isinstance(request, ApplyRule):
                unverified = answer
            elif isinstance(request, Rollback):
                unverified = None
            request = gen.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        gen.close()


def _discard(awaitable: Awaitable[Any]) -> None:
    """Close a coroutine that will never be awaited (no "never awaited" warning)."""
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()
