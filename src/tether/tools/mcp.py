"""Tools from MCP servers, over stdio or streamable HTTP, through the official ``mcp`` SDK.

Usage::

    from tether.tools import ToolRunner
    from tether.tools.mcp import MCPServer

    files = MCPServer("files", command="npx", args=["-y", "@modelcontextprotocol/server-filesystem", "."])
    with files.connect() as conn:              # or: async with files.connect() as conn
        runner = ToolRunner(conn.tools)        # files__read_file, files__list_directory, ...
        result = runner.run(ToolCall("files__read_file", {"path": "README.md"}, id="c1"))

Names: a server's tool ``read_file`` is offered to the model as ``<server>__read_file``
(``files__read_file``), so that two servers (or a server and a built-in) never clash
and the model sees where a tool comes from. ``tool_prefix=""`` keeps the plain names,
any other string replaces ``"<server>__"``. Characters providers refuse in tool names
are replaced by ``_``; a tool whose final name is still unusable, clashes with another,
or whose input schema is not a valid JSON schema of an object is skipped with a
:class:`MCPToolSkipped` warning, and the other tools stay usable.

Errors, all typed: an ``isError`` result from the server is a :class:`~tether.errors.ToolError`
(the model reads the server's message, status ``error``); a call that outlives ``timeout_s``
is a :class:`MCPTimeout` (an :class:`~tether.errors.MCPError` and a ``TimeoutError``, status
``timeout``); a server that would not start, exited, or is gone is an
:class:`~tether.errors.MCPError` naming the server (status ``unavailable``). A server that
crashes is restarted once (``max_restarts``); the call it crashed in is not replayed (it may
have had effects), the model is told to call again. After that, its tools report
``unavailable`` until the connection is reopened. No message carries the server's env
values, HTTP header values, or anything else that looks like a secret.

Which event loop owns the session: each connection runs a private event loop on a daemon
thread, and the MCP session lives there for its whole life. The SDK's transports are anyio
task groups that must be entered and exited by the same task, so the session cannot follow
the caller from loop to loop — and :class:`~tether.tools.ToolRunner` calls tools from
whatever loop it runs in (the caller's, or a private ``asyncio.run`` per sync call). A
tool's ``call`` hands the request to the session's loop with
``asyncio.run_coroutine_threadsafe`` and awaits it with ``asyncio.wrap_future`` in the
caller's loop; cancelling the caller (the runner's timeout) cancels the request in the
session's loop, and the SDK tells the server. Sync code uses :meth:`MCPConnection.call`.

Stdio servers get the SDK's minimal environment (``HOME``, ``PATH``, ``SHELL``, ``TERM``,
``USER``, ``LOGNAME``) plus ``env``; their stderr goes to ours. Closing the connection
closes the server's stdin, then terminates its process group (SIGTERM, then SIGKILL) if it
lingers, and reaps it.

``mcp`` is imported on first use; without it, :meth:`MCPServer.connect` raises
:class:`~tether.errors.MCPError` saying ``pip install 'tether[mcp]'``.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import math
import os
import re
import sys
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from tether._types import Seconds, to_seconds
from tether.errors import MCPError, MCPTimeout, ToolError
from tether.tools.tool import Tool

if TYPE_CHECKING:
    import mcp

__all__ = ["MCPConnection", "MCPServer", "MCPTimeout", "MCPToolSkipped"]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_CLOSE_WAIT_S = 15.0
"""Most seconds :meth:`MCPConnection.close` waits for the server to go (stdio: 2 s for it to
exit on its own, 2 s after SIGTERM, then SIGKILL)."""


class MCPToolSkipped(UserWarning):
    """A server's tool was left out: its input schema is invalid, or its name is unusable."""


def _import_mcp() -> None:
    try:
        import mcp  # noqa: F401
    except ImportError:
        raise MCPError("the mcp package is not installed: pip install 'tether[mcp]'") from None


@dataclass(frozen=True)
class MCPServer:
    """How to reach one MCP server: a command (stdio) or a URL (streamable HTTP).

    Example::

        MCPServer("git", command="uvx", args=["mcp-server-git"], timeout_s=30)
        MCPServer("search", url="https://mcp.example.com/mcp",
                  headers={"Authorization": f"Bearer {token}"})

    Raises:
        MCPError: neither or both of ``command`` and ``url``, a name that is not
            ``[A-Za-z0-9_-]``, or a timeout that is not a positive number of seconds.
    """

    name: str
    """How tether names the server in tool names and messages."""
    command: str | None = None
    """Stdio: the program to start."""
    args: Sequence[str] = ()
    """Stdio: its arguments."""
    env: Mapping[str, str] | None = field(default=None, repr=False)
    """Stdio: extra environment variables (values never appear in messages or reprs)."""
    cwd: str | os.PathLike[str] | None = None
    """Stdio: the working directory (default: ours)."""
    url: str | None = None
    """Streamable HTTP: the endpoint, e.g. ``http://127.0.0.1:8000/mcp``."""
    headers: Mapping[str, str] | None = field(default=None, repr=False)
    """Streamable HTTP: headers sent with every request (``Authorization`` ...; values never
    appear in messages or reprs)."""
    timeout_s: Seconds = 60.0
    """Time limit of one tool call, in seconds (also the :class:`Tool`'s ``timeout_s``)."""
    startup_timeout_s: Seconds = 30.0
    """Time limit for starting the server, the handshake and listing its tools, in seconds."""
    tool_prefix: str | None = None
    """Prefix of the tools' names: ``None`` means ``"<name>__"``, ``""`` keeps plain names."""
    max_restarts: int = 1
    """How many times a crashed server is restarted before its tools are unavailable."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name or ""):
            raise MCPError(f"server name {self.name!r}: use 1-64 letters, digits, '_' or '-'")
        if (self.command is None) == (self.url is None):
            raise MCPError("give exactly one of command= (stdio) or url= (HTTP)", server=self.name)
        for attr in ("timeout_s", "startup_timeout_s"):
            value = to_seconds(getattr(self, attr))
            if not math.isfinite(value) or value <= 0:
                raise MCPError(f"{attr} must be a positive number of seconds", server=self.name)
            object.__setattr__(self, attr, value)
        object.__setattr__(self, "args", tuple(str(a) for a in self.args))
        if self.max_restarts < 0:
            raise MCPError("max_restarts must be 0 or more", server=self.name)

    @property
    def transport(self) -> Literal["stdio", "http"]:
        """``"stdio"`` or ``"http"``."""
        return "stdio" if self.command is not None else "http"

    @property
    def prefix(self) -> str:
        """What goes before each tool's name."""
        return f"{self.name}__" if self.tool_prefix is None else self.tool_prefix

    def connect(self) -> MCPConnection:
        """A connection to this server, started by ``with``/``async with`` or :meth:`~MCPConnection.start`.

        Raises:
            MCPError: the ``mcp`` package is not installed.
        """
        _import_mcp()
        return MCPConnection(self)

    def secrets(self) -> list[str]:
        """Values that must never appear in a message: env values and header values."""
        values: set[str] = set()
        for mapping in (self.env or {}, self.headers or {}):
            for value in mapping.values():
                if len(value) >= 4:
                    values.add(value)
                values.update(part for part in value.split() if len(part) >= 6)
        return sorted(values, key=len, reverse=True)


State = Literal["new", "starting", "ready", "restarting", "unavailable", "closed"]

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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
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
        _import_mcp()
        with self._lock:
            if self._state != "new":
                raise MCPError(f"the connection is already {self._state}", server=self.server.name)
            self._state = "starting"
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._thread = threading.Thread(
                target=_run_loop, args=(loop,), name=f"tether-mcp-{self.server.name}", daemon=True
            )
            self._thread.start()
        first: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._supervisor = asyncio.run_coroutine_threadsafe(self._supervise(first), loop)
        try:
            listing = first.result(timeout=self._startup_s + _CLOSE_WAIT_S)
        except concurrent.futures.TimeoutError:
            self.close()
            raise MCPTimeout(self._no_answer("start"), server=self.server.name) from None
        except BaseException:
            self.close()
            raise
        self.tools = self._build_tools(listing)
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
            loop, thread, supervisor = self._loop, self._thread, self._supervisor
        _open.discard(self)
        if loop is None or thread is None:
            return
        if supervisor is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._set_wake)
            with contextlib.suppress(BaseException):
                supervisor.result(timeout=_CLOSE_WAIT_S)
            with contextlib.suppress(BaseException):  # let settled calls deliver their errors
                asyncio.run_coroutine_threadsafe(_drain(), loop).result(timeout=2.0)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(_CLOSE_WAIT_S)

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

    # -- tools -------------------------------------------------------------------------------------

    def _build_tools(self, listing: list[Any]) -> list[Tool]:
        tools: list[Tool] = []
        taken: set[str] = set()
        for wire in listing:
            name = self.server.prefix + _BAD_NAME_CHARS.sub("_", wire.name)
            problem = _schema_problem(wire.input_schema)
            if problem is None and not _NAME.match(name):
                problem = f"{name!r} is not a usable tool name (1-64 of A-Z a-z 0-9 _ -)"
            if problem is None and name in taken:
                problem = f"its name {name!r} clashes with another tool's"
            if problem is not None:
                message = f"MCP server {self.server.name!r}: skipping tool {wire.name!r}: {problem}"
                logger.warning("%s", message)
                warnings.warn(message, MCPToolSkipped, stacklevel=4)
                continue
            taken.add(name)
            read_only = bool(wire.annotations and wire.annotations.read_only_hint)
            tools.append(
                Tool.from_schema(
                    name,
                    self._bound_call(wire.name),
                    description=wire.description or wire.title or "",
                    parameters=dict(wire.input_schema),
                    timeout_s=self.server.timeout_s,
                    source=f"mcp:{self.server.name}",
                    parallel_safe=read_only,
                )
            )
        return tools

    def _bound_call(self, wire_name: str) -> Any:
        async def call(**arguments: Any) -> Any:
            return await self.acall(wire_name, arguments)

        call.__name__ = call.__qualname__ = _BAD_NAME_CHARS.sub("_", wire_name)
        return call

    # -- the session loop (everything below runs on the connection's own thread) -------------------

    def _submit(self, tool: str, arguments: dict[str, Any]) -> concurrent.futures.Future[Any]:
        loop = self._loop
        if loop is None or self._state in ("new", "closed") or loop.is_closed():
            raise MCPError(
                f"the connection is {self._state}; start it first", server=self.server.name
            )
        try:
            return asyncio.run_coroutine_threadsafe(self._call(tool, arguments), loop)
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
            transport = self._transport(lambda: self._on_eof(generation))
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

    @contextlib.asynccontextmanager
    async def _transport(self, on_eof: Any) -> AsyncIterator[Any]:
        server = self.server
        async with contextlib.AsyncExitStack() as stack:
            if server.command is not None:
                from mcp import StdioServerParameters
                from mcp.client.stdio import stdio_client

                params = StdioServerParameters(
                    command=server.command,
                    args=list(server.args),
                    env=dict(server.env) if server.env else None,
                    cwd=os.fspath(server.cwd) if server.cwd is not None else None,
                )
                read, write = await stack.enter_async_context(stdio_client(params, _errlog()))
            else:
                from mcp.client.streamable_http import streamable_http_client
                from mcp.shared._httpx_utils import create_mcp_http_client

                http = create_mcp_http_client(headers=dict(server.headers or {}))
                await stack.enter_async_context(http)
                assert server.url is not None
                read, write = await stack.enter_async_context(
                    streamable_http_client(server.url, http_client=http)
                )
            yield _EOFWatch(read, on_eof), write

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
            if _is_connection_error(exc):
                raise self._lost(tool, generation) from None
            raise ToolError(self._redact(f"{tool}: {_describe(exc)}")) from None
        if result.is_error:
            raise ToolError(self._redact(_result_text(result) or f"{tool}: the tool failed"))
        text = _result_text(result)
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
        detail = _describe(exc)
        program = os.path.basename(self.server.command) if self.server.command else "the URL"
        if isinstance(_leaf(exc), FileNotFoundError | PermissionError) and self.server.command:
            detail = f"cannot run {program!r} ({_leaf(exc).__class__.__name__})"
        return MCPError(self._redact(f"{doing}: {detail}"), server=self.server.name)


class _EOFWatch:
    """The session's read stream, calling ``on_eof`` when the server's side ends."""

    def __init__(self, inner: Any, on_eof: Any) -> None:
        self._inner = inner
        self._on_eof = on_eof

    def __getattr__(self, name: str) -> Any:  # last_context and friends
        return getattr(self._inner, name)

    async def receive(self) -> Any:
        import anyio

        try:
            return await self._inner.receive()
        except anyio.EndOfStream:
            self._on_eof()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _EOFWatch:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            self._on_eof()
            raise

    async def __aenter__(self) -> _EOFWatch:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        result: bool | None = await self._inner.__aexit__(*exc)
        return result


async def _drain() -> None:
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=1.0)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
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


_devnull: Any = None


def _errlog() -> Any:
    """Where a stdio server's stderr goes: ours when it is a real file, else nowhere."""
    global _devnull
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        if _devnull is None:
            _devnull = open(os.devnull, "w")  # noqa: SIM115 - shared for the process's life
        return _devnull
    return sys.stderr


def _schema_problem(schema: Any) -> str | None:
    """Why ``schema`` cannot be a tool's input schema, or ``None``."""
    if not isinstance(schema, dict):
        return "its input schema is not a JSON object"
    if schema.get("type", "object") != "object":
        return f"its input schema describes {schema.get('type')!r}, not an object"
    import jsonschema  # type: ignore[import-untyped]

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        return f"its input schema is invalid at {where}: {exc.message}"
    return None


def _result_text(result: Any) -> str:
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(
                f"[{kind} {getattr(block, 'mime_type', '')}, {len(block.data)} base64 chars]"
            )
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(text if text is not None else f"[resource {resource.uri}]")
    return "\n".join(parts)


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    leaf = _leaf(exc)
    text = str(leaf).strip()
    return f"{type(leaf).__name__}: {text}" if text else type(leaf).__name__


def _is_connection_error(exc: BaseException) -> bool:
    import anyio

    leaf = _leaf(exc)
    if isinstance(leaf, anyio.ClosedResourceError | anyio.BrokenResourceError | ConnectionError):
        return True
    return type(leaf).__name__ in ("ConnectError", "RemoteProtocolError", "ReadError")
