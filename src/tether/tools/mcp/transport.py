"""How the messages reach an MCP server: the SDK's stdio or streamable-HTTP transport.

:func:`open_transport` enters the transport a :class:`~tether.tools.mcp.server.MCPServer`
describes and yields its ``(read, write)`` streams, the read side wrapped in an
:class:`EOFWatch` that reports the moment the server's side ends (stdio: the process exited),
so that a crash is noticed between calls, not only during one.

Stdio servers get the SDK's minimal environment (``HOME``, ``PATH``, ``SHELL``, ``TERM``,
``USER``, ``LOGNAME``) plus ``env``; their stderr goes to ours (:func:`errlog`). Must run on
the connection's own event loop: the SDK's transports are anyio task groups entered and
exited by one task.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

from tether.tools.mcp.server import MCPServer

__all__ = ["EOFWatch", "errlog", "open_transport"]


@contextlib.asynccontextmanager
async def open_transport(server: MCPServer, on_eof: Callable[[], None]) -> AsyncIterator[Any]:
    """Start ``server`` (stdio) or connect to it (HTTP); yield ``(read, write)`` streams.

    Args:
        server: the configuration.
        on_eof: called (on the loop's thread) when the server's side of the read stream ends.

    Raises:
        Exception: whatever the SDK raised: ``FileNotFoundError`` for a missing program, an
            httpx error for an unreachable URL (the connection turns it into ``MCPError``).
    """
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
            read, write = await stack.enter_async_context(stdio_client(params, errlog()))
        else:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = create_mcp_http_client(headers=dict(server.headers or {}))
            await stack.enter_async_context(http)
            assert server.url is not None
            read, write = await stack.enter_async_context(
                streamable_http_client(server.url, http_client=http)
            )
        yield EOFWatch(read, on_eof), write


class EOFWatch:
    """The session's read stream, calling ``on_eof`` when the server's side ends.

    Args:
        inner: the SDK's read stream (an anyio memory object stream).
        on_eof: called once per end seen (``EndOfStream`` or ``StopAsyncIteration``).
    """

    def __init__(self, inner: Any, on_eof: Callable[[], None]) -> None:
        self._inner = inner
        self._on_eof = on_eof

    def __getattr__(self, name: str) -> Any:  # last_context and friends
        return getattr(self._inner, name)

    async def receive(self) -> Any:
        """The next message; on the end of the stream, ``on_eof`` is called and it re-raises."""
        import anyio

        try:
            return await self._inner.receive()
        except anyio.EndOfStream:
            self._on_eof()
            raise

    async def aclose(self) -> None:
        """Close the inner stream."""
        await self._inner.aclose()

    def __aiter__(self) -> EOFWatch:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            self._on_eof()
            raise

    async def __aenter__(self) -> EOFWatch:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> bool | None:
        result: bool | None = await self._inner.__aexit__(*exc)
        return result


_devnull: Any = None


def errlog() -> Any:
    """Where a stdio server's stderr goes: ours when it is a real file, else nowhere."""
    global _devnull
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        if _devnull is None:
            _devnull = open(os.devnull, "w")  # noqa: SIM115 - shared for the process's life
        return _devnull
    return sys.stderr
