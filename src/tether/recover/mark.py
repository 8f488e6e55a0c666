"""``@mark``: recover a Python function (sync or async) when it raises.

The wrapper is a plain ``try``/``except``: a call that does not raise costs one
extra function call and nothing else (no context, no rule loading).

On an exception (``Exception`` subclasses; ``KeyboardInterrupt`` and
``SystemExit`` pass straight through) the context is built from
``context_from(*args, exc, **kwargs)`` and enriched with ``error``,
``error_type``, ``traceback`` and ``function`` where ``context_from`` did not
set them; then the shared recovery flow runs (``tether.recover.flow``, driven by
``tether.recover.drive``). If
recovery does not succeed the caller gets the user's own exception object,
unchanged but for a note (``exc.add_note``) saying what was tried. An error
inside tether is noted on that exception and warned about; it never replaces it.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypedDict, TypeVar, overload

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from tether.recover.drive import EngineServices
    from tether.recover.flow import Flow
    from tether.recover.model import JobResult, Outcome, RecoverySettings

__all__ = ["MarkOptions", "MarkSettings", "Marked", "mark"]

P = ParamSpec("P")
R_co = TypeVar("R_co", covariant=True)
R = TypeVar("R")


class MarkOptions(TypedDict, total=False):
    """The settings ``@mark`` takes, defined once (``Tether.mark`` and :func:`mark` take these
    as keyword arguments; :class:`MarkSettings` holds them). ``None`` means the engine's
    default (its constructor arguments, then ``config.yaml``)."""

    context_from: Callable[..., dict[str, Any]] | None
    """``(*args, exc, **kwargs) -> dict`` adding facts to the context."""
    max_retries: int | None
    """Rules tried per error (default: the engine's, 3)."""
    max_depth: int | None
    """Levels of cascading errors chased, deep recovery (default: the engine's, 3)."""
    rules: Sequence[str] | None
    """Rule names tried first."""
    tags: Sequence[str] | None
    """Rules with these tags are tried next."""
    fallback: bool
    """Then any other matching rule of ``collection`` (default ``True``)."""
    explorable: bool
    """Allow LLM exploration when no rule fits; it also needs ``TETHER_EXPLORE=1`` (or
    ``engine.explore: true``) and a model with its key. Otherwise one notice says why."""
    collection: str | None
    """The collection for tags and fallback (default: the engine's, ``"default"``)."""
    setup: Callable[[dict[str, Any], int], dict[str, Any] | None] | None
    """``(state, attempt) -> dict | None`` before each attempt; state starts as the
    function's bound arguments."""
    teardown: Callable[[dict[str, Any], int, bool], None] | None
    """``(state, attempt, success)`` after each attempt; sees ``_fn_name``, ``_observation``
    and, on the last attempt, ``_give_up_reason``."""
    enabled: bool
    """``False`` returns a wrapper that never recovers (default ``True``)."""


class Marked(Protocol[P, R_co]):
    """A marked function: called as the original (a type checker sees its signature through
    the decorator, as with tenacity's ``_RetryDecorated``), with its settings as ``.mark``."""

    mark: MarkSettings

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...


@dataclass(frozen=True)
class MarkSettings:
    """The settings a marked function was given; available as ``fn.mark``.

    ``None`` for ``max_retries``, ``max_depth`` or ``collection`` means the
    engine's default (its constructor arguments, then ``config.yaml``: 3, 3, ``"default"``).
    """

    context_from: Callable[..., dict[str, Any]] | None = None
    max_retries: int | None = None
    max_depth: int | None = None
    rules: Sequence[str] | None = None
    tags: Sequence[str] | None = None
    fallback: bool = True
    explorable: bool = False
    collection: str | None = None
    setup: Callable[[dict[str, Any], int], dict[str, Any] | None] | None = None
    teardown: Callable[[dict[str, Any], int, bool], None] | None = None
    enabled: bool = True


def _context(
    settings: MarkSettings,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exc: BaseException,
) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if settings.context_from is not None:
        try:
            made = settings.context_from(*args, exc, **kwargs)
            if not isinstance(made, dict):
                raise TypeError(f"returned {type(made).__name__}, expected dict")
            context.update(made)
        except Exception as problem:
            warnings.warn(
                f"tether: context_from for {fn.__qualname__} failed ({type(problem).__name__}: "
                f"{problem}); using the exception alone",
                RuntimeWarning,
                stacklevel=4,
            )
    context.setdefault("error", str(exc))
    context.setdefault("error_type", type(exc).__name__)
    # skip the first frame (tether's wrapper on the first call, its re-run later) and the
    # exception chain, which differ between runs and would make one failure two fingerprints
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    text = traceback.format_exception(type(exc), exc, tb, chain=False)
    context.setdefault("traceback", "".join(text))
    context.setdefault("function", fn.__qualname__)
    return context


def _state(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
        bound.apply_defaults()
        return dict(bound.arguments)
    except (TypeError, ValueError):
        return {}


def exploration_switched_on(services: EngineServices) -> bool:
    """Whether explorable marked functions may explore: ``TETHER_EXPLORE=1`` or ``engine.explore``."""
    flag = os.environ.get("TETHER_EXPLORE", "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return True
    if flag in ("0", "false", "no", "off"):
        return False
    return services.exploration_on()


def _settings(
    services: EngineServices, s: MarkSettings, fn: Callable[..., Any], state: dict[str, Any]
) -> RecoverySettings:
    return services.settings(
        max_retries=s.max_retries,
        max_depth=s.max_depth,
        rules=s.rules,
        tags=s.tags,
        collection=s.collection,
        fallback=s.fallback,
        setup=s.setup,
        teardown=s.teardown,
        state=state,
        target=fn.__qualname__,
        explore=s.explorable and exploration_switched_on(services),
    )


def _surface(
    exc: BaseException, outcome: Outcome | None, internal: BaseException | None
) -> BaseException:
    if internal is not None:
        exc.add_note(f"tether: recovery failed internally ({type(internal).__name__}: {internal})")
        return exc
    assert outcome is not None
    surfaced = outcome.failure.error if outcome.failure is not None else exc
    if not isinstance(surfaced, BaseException):
        surfaced = exc
    surfaced.add_note(outcome.note())
    return surfaced


def _begin(
    services: EngineServices,
    s: MarkSettings,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    exc: Exception,
) -> Flow[Outcome]:
    """The recovery flow for a marked call that raised ``exc``."""
    from tether.recover.flow import recovery
    from tether.recover.model import Failure

    first = Failure(_context(s, fn, args, kwargs, exc), exc)
    settings = _settings(services, s, fn, _state(fn, args, kwargs))
    return recovery(first, settings, clock=services.clock)


def _internal(problem: Exception) -> Exception:
    """An error inside recovery: re-raised if a hook asked for it, else warned about and kept."""
    if getattr(problem, "__tether_propagate__", False):
        raise problem
    warnings.warn(f"tether: recovery failed: {problem}", RuntimeWarning, stacklevel=4)
    return problem


def _finish(
    services: EngineServices,
    s: MarkSettings,
    exc: Exception,
    outcome: Outcome | None,
    internal: BaseException | None,
) -> Any:
    """The recovered value, or the user's exception (noted) raised again."""
    if outcome is not None and outcome.recovered:
        return outcome.value
    if outcome is not None:
        _not_exploring_notice(services, s)
    raise _surface(exc, outcome, internal)


def _not_exploring_notice(services: EngineServices, s: MarkSettings) -> None:
    """Say once why an explorable function's failure was not explored when it is switched off
    (when it is on, the engine says why it could not explore: no model, no key ...)."""
    if s.explorable and not exploration_switched_on(services):
        services.notice(
            "exploration is off for this process: set TETHER_EXPLORE=1 "
            "(or engine.explore: true in config.yaml) to let explorable functions explore"
        )


@overload
def mark(services: EngineServices, fn: Callable[P, R], /) -> Marked[P, R]: ...


@overload
def mark(
    services: EngineServices, fn: None = None, /, **options: Unpack[MarkOptions]
) -> Callable[[Callable[P, R]], Marked[P, R]]: ...


def mark(
    services: EngineServices,
    fn: Callable[..., Any] | None = None,
    /,
    **options: Unpack[MarkOptions],
) -> Any:
    """Wrap ``fn`` so that its failures are recovered with the engine's rules.

    Args:
        services: the engine's :class:`~tether.recover.drive.EngineServices` (``Tether.mark``
            passes its own).
        fn: the function, when used bare (``@t.mark``).
        **options: the settings of :class:`MarkOptions` (``max_retries``, ``rules``,
            ``explorable`` ...); an unknown name raises ``TypeError``.

    Returns:
        The wrapped function (``functools.wraps``), with the settings as ``.mark``
        (a :class:`Marked`); or, without ``fn``, the decorator.

    Raises:
        TypeError: an option that :class:`MarkOptions` does not define.
    """
    settings = MarkSettings(**options)

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        if getattr(func, "__name__", "") == "<lambda>":
            warnings.warn(
                "tether: mark() got a lambda as the function to wrap; "
                "did you mean mark(context_from=...)?",
                UserWarning,
                stacklevel=3,
            )
        if inspect.iscoroutinefunction(func):
            wrapper = _async_wrapper(services, func, settings)
        else:
            wrapper = _sync_wrapper(services, func, settings)
        wrapper.mark = settings  # type: ignore[attr-defined]
        return wrapper

    return decorate(fn) if fn is not None else decorate


def _sync_wrapper(
    services: EngineServices, fn: Callable[..., Any], s: MarkSettings
) -> Callable[..., Any]:
    if not s.enabled:

        @functools.wraps(fn)
        def passthrough(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return passthrough

    def recover(exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from tether.recover.drive import JobServices, run_sync
        from tether.recover.model import Failure, JobResult

        def job() -> JobResult:
            try:
                return JobResult(value=fn(*args, **kwargs))
            except Exception as again:
                return JobResult(failure=Failure(_context(s, fn, args, kwargs, again), again))

        outcome = internal = None
        try:
            gen = _begin(services, s, fn, args, kwargs, exc)
            outcome = run_sync(gen, JobServices(services, job, services.sleep))
        except Exception as problem:
            internal = _internal(problem)
        return _finish(services, s, exc, outcome, internal)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            return recover(exc, args, kwargs)

    return wrapper


def _async_wrapper(
    services: EngineServices, fn: Callable[..., Any], s: MarkSettings
) -> Callable[..., Any]:
    if not s.enabled:

        @functools.wraps(fn)
        async def passthrough(*args: Any, **kwargs: Any) -> Any:
            return await fn(*args, **kwargs)

        return passthrough

    async def recover(exc: Exception, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        import asyncio

        from tether.recover.drive import JobServices, run_async
        from tether.recover.model import Failure, JobResult

        async def job() -> JobResult:
            try:
                return JobResult(value=await fn(*args, **kwargs))
            except Exception as again:
                return JobResult(failure=Failure(_context(s, fn, args, kwargs, again), again))

        async def sleep(seconds: float) -> None:
            if services.sleep is time.sleep:
                await asyncio.sleep(seconds)
            else:
                services.sleep(seconds)

        outcome = internal = None
        try:
            services.prepare()  # read rules and actions before the event-loop driven part
            gen = _begin(services, s, fn, args, kwargs, exc)
            outcome = await run_async(gen, JobServices(services, job, sleep))
        except Exception as problem:
            internal = _internal(problem)
        return _finish(services, s, exc, outcome, internal)

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            return await recover(exc, args, kwargs)

    return wrapper
