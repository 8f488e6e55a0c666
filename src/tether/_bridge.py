"""Bridges between sync code, threads and event loops: the one place tether starts them.

Four shapes recur across the layers, and each is written once here:

- :class:`LoopThread`: a private event loop on a daemon thread that outlives single calls, for
  a session that must stay on one loop (the LLM client's connection pools, an MCP session's
  anyio task groups). Sync code hands it coroutines (:meth:`LoopThread.submit`,
  :meth:`LoopThread.run`); async code awaits the returned future with ``asyncio.wrap_future``.
- :func:`call_in_thread`: run a callable on a daemon thread of its own and wait at most a
  deadline, so that a hung callable (an action, a tool) holds no shared pool and the caller
  still gets an answer in time. The thread is abandoned, not killed, when the deadline passes.
- :func:`thread_future`: the same from async code: the callable's outcome settles an
  ``asyncio`` future of the running loop.
- :func:`off_running_loop`: run a blocking callable that itself calls ``asyncio.run`` (a
  governed loop's ``run()``), on a worker thread when the calling thread already runs an event
  loop (a sync function called from async code), since one loop cannot run inside another.

Nothing here keeps process-wide state; every thread is a daemon named by the caller, so a
stuck one never blocks interpreter exit and shows up by name in a thread dump.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["LoopThread", "Outcome", "call_in_thread", "off_running_loop", "thread_future"]

T = TypeVar("T")


class LoopThread:
    """A private event loop running forever on a daemon thread, started at construction.

    Args:
        name: the thread's name (``tether-llm``, ``tether-mcp-<server>``).

    When the loop stops (:meth:`stop`), the thread cancels the tasks still pending, waits for
    them, shuts down async generators and closes the loop, so nothing leaks past it.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=_run_forever, args=(self.loop,), name=name, daemon=True
        )
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; its future may be waited on from any thread.

        Raises:
            RuntimeError: the loop is closed (the coroutine is closed, never run).
        """
        try:
            return asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:
            coro.close()
            raise

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (``timeout_s`` seconds at most).

        Raises:
            concurrent.futures.TimeoutError: no result within ``timeout_s`` (the coroutine runs on).
            RuntimeError: the loop is closed.
            BaseException: whatever ``coro`` raised.
        """
        return self.submit(coro).result(timeout_s)

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the loop's thread soon; nothing happens if the loop is closed."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(callback)

    @property
    def closed(self) -> bool:
        """True once the loop has been closed."""
        return self.loop.is_closed()

    def stop(self, timeout_s: float) -> None:
        """Stop the loop and wait up to ``timeout_s`` seconds for its thread to end. Idempotent."""
        self.call_soon(self.loop.stop)
        self.thread.join(timeout_s)


def _run_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        with contextlib.suppress(BaseException):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """How a callable run by :func:`call_in_thread` ended: its ``value``, or the ``error`` it
    raised (any ``BaseException``, ``KeyboardInterrupt`` and ``SystemExit`` included)."""

    value: T | None = None
    error: BaseException | None = None

    def unwrap(self) -> T | None:
        """The value, or raise the error."""
        if self.error is not None:
            raise self.error
        return self.value


def call_in_thread(
    fn: Callable[[], T],
    *,
    name: str,
    timeout_s: float,
    context: contextvars.Context | None = None,
    finish_on_interrupt: bool = False,
) -> Outcome[T] | None:
    """Call ``fn()`` on a new daemon thread and wait at most ``timeout_s`` seconds.

    Args:
        fn: the work; a coroutine function must be wrapped (``lambda: asyncio.run(f())``).
        name: the thread's name.
        timeout_s: seconds to wait for it.
        context: the ``contextvars`` context to run it in (default: the thread's own, empty).
        finish_on_interrupt: on Ctrl-C (``KeyboardInterrupt`` in the waiting thread), keep
            waiting for ``fn`` until the deadline, then re-raise, so that a step in progress
            ends cleanly; a second Ctrl-C stops the wait at once. Otherwise the first Ctrl-C
            stops the wait.

    Returns:
        the :class:`Outcome`, or ``None`` when ``fn`` did not finish in time (the thread is
        abandoned and may still be running).

    The wait is on an event, not ``Thread.join``: an interrupted join marks the thread stopped.
    """
    box: list[Outcome[T]] = []
    done = threading.Event()

    def target() -> None:
        try:
            box.append(Outcome(value=fn() if context is None else context.run(fn)))
        except BaseException as exc:
            box.append(Outcome(error=exc))
        finally:
            done.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    try:
        done.wait(timeout_s)
    except KeyboardInterrupt:
        if finish_on_interrupt:
            done.wait(max(0.0, deadline - time.monotonic()))
        raise
    return box[0] if done.is_set() else None


def thread_future(
    fn: Callable[[], T], *, name: str, context: contextvars.Context | None = None
) -> asyncio.Future[T]:
    """Call ``fn()`` on a new daemon thread; its result or error settles the returned future.

    Must be called from a running event loop, whose future it returns. Cancelling the future
    (``asyncio.wait_for``'s timeout) abandons the thread; if the loop has closed by the time
    ``fn`` returns, the outcome is dropped.

    Raises:
        RuntimeError: no running event loop.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        outcome: tuple[bool, Any]
        try:
            outcome = (True, fn() if context is None else context.run(fn))
        except BaseException as exc:
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed while fn hung
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def off_running_loop(fn: Callable[[], T], *, name: str, copy_context: bool = True) -> T:
    """``fn()`` here, or on a worker thread when this thread runs an event loop, and wait.

    For a blocking callable that starts an event loop of its own (``asyncio.run``), which
    cannot happen inside a running loop.

    Args:
        fn: the blocking work.
        name: the worker thread's name prefix.
        copy_context: run the worker in a copy of the caller's ``contextvars`` context.

    Raises:
        BaseException: whatever ``fn`` raised.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name) as pool:
        if copy_context:
            return pool.submit(contextvars.copy_context().run, fn).result()
        return pool.submit(fn).result()
