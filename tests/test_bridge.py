"""The thread/event-loop bridges of ``tether._bridge``, on real threads and event loops."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading

import pytest

from tether._bridge import LoopThread, call_in_thread, off_running_loop, thread_future

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("WHO", default="nobody")


def test_loop_thread_runs_coroutines_on_one_loop_and_closes_it() -> None:
    runner = LoopThread("tether-test-loop")

    async def where() -> tuple[int, asyncio.AbstractEventLoop]:
        return threading.get_ident(), asyncio.get_running_loop()

    first, second = runner.run(where()), runner.run(where())
    assert first == second  # one thread, one loop, call after call
    assert first[0] != threading.get_ident()
    assert runner.thread.name == "tether-test-loop" and runner.thread.daemon

    async def forever() -> None:
        await asyncio.Event().wait()

    pending = runner.submit(forever())
    runner.stop(5.0)
    assert not runner.thread.is_alive() and runner.closed
    assert pending.cancelled()  # what was still pending was cancelled, not leaked
    with pytest.raises(RuntimeError):
        runner.submit(where())
    runner.stop(1.0)  # idempotent
    runner.call_soon(lambda: None)  # a closed loop ignores it


def test_loop_thread_passes_errors_and_timeouts_through() -> None:
    runner = LoopThread("tether-test-loop")
    try:

        async def fail() -> None:
            raise KeyError("k")

        with pytest.raises(KeyError):
            runner.run(fail())
        with pytest.raises(concurrent.futures.TimeoutError):
            runner.run(asyncio.sleep(5), timeout_s=0.05)
    finally:
        runner.stop(5.0)


def test_call_in_thread_returns_the_value_or_the_error_in_the_given_context() -> None:
    WHO.set("caller")
    context = contextvars.copy_context()
    ok = call_in_thread(
        lambda: (WHO.get(), threading.current_thread().name),
        name="t-ok",
        timeout_s=5,
        context=context,
    )
    assert ok is not None and ok.error is None and ok.value == ("caller", "t-ok")
    bare = call_in_thread(WHO.get, name="t-bare", timeout_s=5)
    assert bare is not None and bare.unwrap() == "nobody"

    def boom() -> None:
        raise ValueError("bad")

    failed = call_in_thread(boom, name="t-err", timeout_s=5)
    assert failed is not None and isinstance(failed.error, ValueError)
    with pytest.raises(ValueError, match="bad"):
        failed.unwrap()


def test_call_in_thread_gives_up_at_the_deadline_and_abandons_the_thread() -> None:
    release = threading.Event()
    try:
        assert call_in_thread(lambda: release.wait(10), name="t-hung", timeout_s=0.05) is None
        assert any(t.name == "t-hung" and t.daemon for t in threading.enumerate())
    finally:
        release.set()


def test_thread_future_settles_in_the_running_loop() -> None:
    asyncio.run(_thread_future())


async def _thread_future() -> None:
    WHO.set("async caller")
    value = await thread_future(WHO.get, name="t-fut", context=contextvars.copy_context())
    assert value == "async caller"

    def boom() -> None:
        raise OSError("gone")

    with pytest.raises(OSError, match="gone"):
        await thread_future(boom, name="t-fut-err")
    release = threading.Event()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(thread_future(lambda: release.wait(10), name="t-slow"), 0.05)
    finally:
        release.set()


def test_off_running_loop_runs_here_without_a_loop() -> None:
    assert off_running_loop(threading.get_ident, name="t-off") == threading.get_ident()


def test_off_running_loop_moves_off_a_running_loop_and_can_carry_the_context() -> None:
    asyncio.run(_off_running_loop())


async def _off_running_loop() -> None:
    WHO.set("inside")

    def blocking() -> tuple[str, str]:
        return asyncio.run(asyncio.sleep(0, result=WHO.get())), threading.current_thread().name

    value, thread = off_running_loop(blocking, name="t-off")
    assert value == "inside" and thread.startswith("t-off")
    assert off_running_loop(blocking, name="t-off", copy_context=False)[0] == "nobody"
