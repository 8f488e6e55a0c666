"""A live connection to one MCP server: :class:`MCPConnection`.

Which event loop owns the session: each connection runs a private event loop on a daemon
thread (:class:`tether._bridge.LoopThread`), and the MCP session lives there for its whole
life. The SDK's transports are anyio task groups that must be entered and exited by the same
task, so the session cannot follow the caller from loop to loop — and
:class:`~tether.tools.ToolRunner` calls tools from whatever loop it runs in (the caller's, or a
private ``asyncio.run`` per sync call). A tool's ``call`` hands the request to the session's
loop with ``asyncio.run_coroutine_threadsafe`` and awaits it with ``asyncio.wrap_future`` in
the caller's loop; cancelling the caller (the runner's timeout) cancels the request in the
session's loop, and the SDK tells the server. Sync code uses :meth:`MCPConnection.call`.

A supervisor task on that loop runs one session after another: a server that crashes is
restarted ``max_restarts`` times (the call it crashed in is not replayed), then its tools report
``unavailable``. Closing the connection closes the server's stdin, then terminates its process
group (SIGTERM, then SIGKILL) if it lingers, and reaps it.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import math
import os
import threading
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from tether._bridge import LoopThread
from tether._types import to_seconds
from tether.errors import MCPError, MCPTimeout, ToolError
from tether.tools.mcp.results import describe, is_connection_error, leaf, result_text
from tether.tools.mcp.server import MCPServer, require_mcp
from tether.tools.mcp.tools import build_tools
from tether.tools.mcp.transport import open_transport
from tether.tools.tool import Tool

if TYPE_CHECKING:
    import mcp

__all__ = ["MCPConnection", "State"]

logger = logging.getLogger("tether.tools.mcp")

_CLOSE_WAIT_S = 15.0
"""Most seconds :meth:`MCPConnection.close` waits for the server to go (stdio: 2 s for it to
exit on its own, 2 s after SIGTERM, then SIGKILL)."""


State = Literal["new", "starting", "ready", "restarting", "unavailable", "closed"]
"""Where a connection is in its life (:attr:`MCPConnection.state`)."""

_open: weakref.WeakSet[MCPConnection] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # pragma: no cover - runs at interpreter exit
    for conn in list(_open):
        with contextlib.suppress(Exception):
            conn.close()


class MCPConnection:
    """A live connection to one MCP server, owning it on a private event loop.

    Use it as a context manager (sync or async), or call :meth:`start` and :meth:`close`.

    Attributes:
        server: the configuration.
        tools: the server's tools as :class:`~tether.tools.Tool` (filled by :meth:`start`).
        restarts: how many times the server was restarted after a crash.
    """

    def __init__(self, server: MCPServer) -> None:
        self.server = server
        self.tools: list[Tool] = []
        self.restarts = 0
        self._secrets = server.secrets()
        self._timeout_s = to_seconds(server.timeout_s)
        self._startup_s = to_seconds(server.startup_timeout_s)
        self._state: State = "new"
        self._reason = ""
        self._runner: LoopThread | None = None
        self._supervisor: concurrent.futures.Future[None] | None = None
        self._client: mcp.Client | None = None
        self._generation = 0
        self._fates: dict[int, str] = {}
        self._changed: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._closing = False
        self._lock = threading.Lock()

    # -- public ------------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """``new``, ``starting``, ``ready``, ``restarting``, ``unavailable`` or ``closed``."""
        return self._state

    @property
    def available(self) -> bool:
        """True while calls can reach the server (ready, or restarting after one crash)."""
        return self._state in ("starting", "ready", "restarting")

    def start(self) -> MCPConnection:
        """Start the server (stdio) or connect (HTTP), list its tools; returns ``self``.

        Raises:
            MCPError: it did not start, answer the handshake, or list its tools within
                ``startup_timeout_s`` (:class:`MCPTimeout`), or the ``mcp`` package is missing.
        """
        require_mcp()
        with self._lock:
            if self._state != "new":
                raise MCPError(f"the connection is already {self._state}", server=self.server.name)
            self._state = "starting"
            runner = self._runner = LoopThread(f"tether-mcp-{self.server.name}")
        first: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._supervisor = runner.submit(self._supervise(first))
        try:
            listing = first.result(timeout=self._startup_s + _CLOSE_WAIT_S)
        except concurrent.futures.TimeoutError:
            self.close()
            raise MCPTimeout(self._no_answer("start"), server=self.server.name) from None
        except BaseException:
            self.close()
            raise
        self.tools = build_tools(self.server, listing, self.acall)
        _open.add(self)
        return self

    async def astart(self) -> MCPConnection:
        """:meth:`start` without blocking the running event loop."""
        return await asyncio.to_thread(self.start)

    def close(self) -> None:
        """Stop the session and the server (stdio: the process is reaped). Idempotent."""
        with self._lock:
            if self._state == "closed":
                return
            self._closing = True
            self._state = "closed"
            runner, supervisor = self._runner, self._supervisor
        _open.discard(self)
        if runner is None:
            return
        if supervisor is not None and not runner.closed:
            runner.call_soon(self._set_wake)
            with contextlib.suppress(BaseException):
                supervisor.result(timeout=_CLOSE_WAIT_S)
            with contextlib.suppress(BaseException):  # let settled calls deliver their errors
                runner.run(_drain(), timeout_s=2.0)
        runner.stop(_CLOSE_WAIT_S)

    async def aclose(self) -> None:
        """:meth:`close` without blocking the running event loop."""
        await asyncio.to_thread(self.close)

    def call(self, tool: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """Call the server's tool ``tool`` (its own name, without the prefix) and wait.

        Returns:
            the text of the result, or its structured content when it has no text.

        Raises:
            ToolError: the server answered with an error (``isError``, unknown tool, bad arguments).
            MCPTimeout: no answer within ``timeout_s``.
            MCPError: the server is not running (crashed, restarting failed, closed).
        """
        future = self._submit(tool, dict(arguments or {}))
        try:
            return future.result(timeout=self._timeout_s + 5.0)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise MCPTimeout(self._no_answer(tool), server=self.server.name) from None

    async def acall(self, tool: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """:meth:`call` from async code; cancelling it cancels the request on the server."""
        future = self._submit(tool, dict(arguments or {}))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling() == 0:  # cancelled on our side: closing
                raise MCPError(
                    f"the connection closed during the call to {tool!r}", server=self.server.name
                ) from None
            raise

    def __enter__(self) -> MCPConnection:
        return self.start() if self._state == "new" else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> MCPConnection:
        return await self.astart() if self._state == "new" else self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<MCPConnection {self.server.name!r} {self._state} tools={len(self.tools)}>"

    # -- the session loop (everything below runs on the connection's own thread) -------------------

    def _submit(self, tool: str, arguments: dict[str, Any]) -> concurrent.futures.Future[Any]:
        runner = self._runner
        if runner is None or self._state in ("new", "closed") or runner.closed:
            raise MCPError(
                f"the connection is {self._state}; start it first", server=self.server.name
            )
        try:
            return runner.submit(self._call(tool, arguments))
        except RuntimeError:  # the loop stopped between the check and the call
            raise MCPError("the connection is closed", server=self.server.name) from None

    def _set_wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _set_state(self, state: State, reason: str = "") -> None:
        if self._state != "closed":
            self._state = state
        if reason:
            self._reason = reason
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def _supervise(self, first: concurrent.futures.Future[Any]) -> None:
        self._changed = asyncio.Event()
        restarts_left = self.server.max_restarts
        while not self._closing:
            self._wake = asyncio.Event()
            try:
                await self._session(first)
            except Exception as exc:
                error = exc if isinstance(exc, MCPError) else self._error(exc)
                if not first.done():
                    first.set_exception(error)
                    self._set_state("unavailable", error.problem)
                    return
                self._reason = error.problem
            if self._closing:
                break
            fate = self._fates.get(self._generation)
            if fate is None:  # lost during a restart's startup, not during a session
                fate = self._decide(self._generation, restarts_left)
            if fate != "restarting":
                self._set_state("unavailable")
                return
            restarts_left -= 1
            self.restarts += 1
            logger.warning("MCP server %r: %s; %s it", self.server.name, self._reason, self._redo)
        self._client = None
        self._set_state("closed")

    async def _session(self, first: concurrent.futures.Future[Any]) -> None:
        from mcp import Client

        assert self._wake is not None
        wake = self._wake
        generation = self._generation + 1
        self._generation = generation
        startup = self._startup_s
        import anyio

        with anyio.CancelScope(deadline=anyio.current_time() + startup) as scope:
            transport = open_transport(self.server, lambda: self._on_eof(generation))
            async with Client(transport, read_timeout_seconds=startup) as client:
                listing = await self._list_tools(client)
                scope.deadline = math.inf
                self._client = client
                self._set_state("ready")
                if not first.done():
                    first.set_result(listing)
                await wake.wait()
                self._client = None
        if scope.cancelled_caught:
            raise MCPTimeout(self._no_answer("start"), server=self.server.name)

    async def _list_tools(self, client: mcp.Client) -> list[Any]:
        tools: list[Any] = []
        cursor: str | None = None
        for _ in range(100):
            page = await client.list_tools(cursor=cursor)
            tools += page.tools
            cursor = page.next_cursor
            if cursor is None:
                break
        return tools

    def _decide(self, generation: int, restarts_left: int | None = None) -> str:
        """What happens after session ``generation`` lost its server (decided once)."""
        if generation not in self._fates:
            left = (
                self.server.max_restarts - self.restarts if restarts_left is None else restarts_left
            )
            self._fates[generation] = "restarting" if left > 0 else "unavailable"
        return self._fates[generation]

    def _on_eof(self, generation: int) -> None:
        """The server's side of session ``generation`` closed (stdio: the process exited)."""
        if self._closing or generation != self._generation or self._state != "ready":
            return
        fate = self._decide(generation)
        self._set_state("restarting" if fate == "restarting" else "unavailable", f"it {self._gone}")
        if self._wake is not None:
            self._wake.set()

    async def _ready_client(self) -> tuple[mcp.Client, int]:
        deadline = asyncio.get_running_loop().time() + self._startup_s
        while True:
            if self._closing or self._state == "closed":
                raise MCPError("the connection is closed", server=self.server.name)
            if self._state == "unavailable":
                raise MCPError(
                    f"its tools are unavailable: {self._reason} "
                    f"(after {self.restarts} restart(s)); reopen the connection to try again",
                    server=self.server.name,
                )
            if self._state == "ready" and self._client is not None:
                return self._client, self._generation
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or self._changed is None:
                raise MCPTimeout(self._no_answer("restart"), server=self.server.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def _call(self, tool: str, arguments: dict[str, Any]) -> Any:
        from mcp import MCPError as WireError
        from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT

        client, generation = await self._ready_client()
        timeout = self._timeout_s
        try:
            result = await asyncio.wait_for(
                client.call_tool(tool, arguments, read_timeout_seconds=timeout), timeout + 1.0
            )
        except TimeoutError:
            raise MCPTimeout(self._no_answer(tool), server=self.server.name) from None
        except WireError as exc:
            if exc.code == REQUEST_TIMEOUT:
                raise MCPTimeout(self._no_answer(tool), server=self.server.name) from None
            if exc.code == CONNECTION_CLOSED:
                raise self._lost(tool, generation) from None
            raise ToolError(self._redact(f"{tool}: {exc.message}")) from None
        except Exception as exc:
            if is_connection_error(exc):
                raise self._lost(tool, generation) from None
            raise ToolError(self._redact(f"{tool}: {describe(exc)}")) from None
        if result.is_error:
            raise ToolError(self._redact(result_text(result) or f"{tool}: the tool failed"))
        text = result_text(result)
        if text or result.structured_content is None:
            return text
        return result.structured_content

    def _lost(self, tool: str, generation: int) -> MCPError:
        if self._closing:
            return MCPError(
                f"the connection closed during the call to {tool!r}", server=self.server.name
            )
        fate = self._decide(generation)
        if generation == self._generation and self._state == "ready":
            self._set_state(
                "restarting" if fate == "restarting" else "unavailable", f"it {self._gone}"
            )
            if self._wake is not None:
                self._wake.set()
        if fate == "restarting":
            what = f"{self._redo} it; the call was not replayed, call the tool again"
        else:
            what = "it had already been restarted, so its tools are now unavailable"
        return MCPError(
            f"the server {self._gone} during the call to {tool!r}; {what}", server=self.server.name
        )

    # -- messages ----------------------------------------------------------------------------------

    def _no_answer(self, what: str) -> str:
        if what in ("start", "restart"):
            return f"did not {what} (handshake and tool listing) within {self._startup_s:g} s"
        return f"tool {what!r} did not answer within {self._timeout_s:g} s"

    def _redact(self, text: str) -> str:
        from tether.store.redact import redact, secret_values

        result: str = redact(text, [*self._secrets, *secret_values()])
        return result

    @property
    def _redo(self) -> str:
        return "restarting" if self.server.transport == "stdio" else "reconnecting"

    @property
    def _gone(self) -> str:
        return "exited" if self.server.transport == "stdio" else "went away"

    def _error(self, exc: BaseException) -> MCPError:
        doing = "could not start" if self.server.transport == "stdio" else "could not connect"
        detail = describe(exc)
        program = os.path.basename(self.server.command) if self.server.command else "the URL"
        if isinstance(leaf(exc), FileNotFoundError | PermissionError) and self.server.command:
            detail = f"cannot run {program!r} ({leaf(exc).__class__.__name__})"
        return MCPError(self._redact(f"{doing}: {detail}"), server=self.server.name)


async def _drain() -> None:
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=1.0)
