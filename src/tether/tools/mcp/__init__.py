"""Tools from MCP servers, over stdio or streamable HTTP, through the official ``mcp`` SDK.

Usage::

    from tether.tools import ToolRunner
    from tether.tools.mcp import MCPServer

    files = MCPServer("files", command="npx", args=["-y", "@modelcontextprotocol/server-filesystem", "."])
    with files.connect() as conn:              # or: async with files.connect() as conn
        runner = ToolRunner(conn.tools)        # files__read_file, files__list_directory, ...
        result = runner.run(ToolCall("files__read_file", {"path": "README.md"}, id="c1"))

The parts, one idea each:

- :mod:`.server`: :class:`MCPServer`, how to reach one server (command or URL, limits, names);
- :mod:`.connection`: :class:`MCPConnection`, the live session on its own event loop, its
  restarts after a crash, and the calls;
- :mod:`.transport`: the SDK's stdio or HTTP transport, watched for the server's end;
- :mod:`.tools`: the server's tools as :class:`~tether.tools.Tool` (names, schemas,
  :class:`MCPToolSkipped`);
- :mod:`.results`: what the server said, as text.

Errors, all typed: an ``isError`` result from the server is a :class:`~tether.errors.ToolError`
(the model reads the server's message, status ``error``); a call that outlives ``timeout_s``
is a :class:`MCPTimeout` (an :class:`~tether.errors.MCPError` and a ``TimeoutError``, status
``timeout``); a server that would not start, exited, or is gone is an
:class:`~tether.errors.MCPError` naming the server (status ``unavailable``). A server that
crashes is restarted once (``max_restarts``); the call it crashed in is not replayed (it may
have had effects), the model is told to call again. After that, its tools report
``unavailable`` until the connection is reopened. No message carries the server's env
values, HTTP header values, or anything else that looks like a secret.

``mcp`` is imported on first use; without it, :meth:`MCPServer.connect` raises
:class:`~tether.errors.MCPError` saying ``pip install 'tether[mcp]'``.
"""

from __future__ import annotations

from tether.errors import MCPTimeout
from tether.tools.mcp.connection import MCPConnection
from tether.tools.mcp.connection import State as State
from tether.tools.mcp.server import MCPServer
from tether.tools.mcp.tools import MCPToolSkipped

__all__ = ["MCPConnection", "MCPServer", "MCPTimeout", "MCPToolSkipped"]
