"""A small MCP server for tether's tests, written with the SDK.

Run as ``python echo_server.py`` (stdio) or ``python echo_server.py http PORT``
(streamable HTTP on 127.0.0.1:PORT, path ``/mcp``).

Tools: ``echo``, ``add``, ``fail`` (an ``isError`` result), ``sleep`` (hangs),
``crash`` (the process exits mid-call), ``pid``, ``show_env``, and one tool
whose advertised input schema is invalid (``broken``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import Tool as WireTool

server = MCPServer("echo")


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def add(a: int, b: int = 1) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def fail(reason: str) -> str:
    """Always fail with the given reason."""
    raise ToolError(f"failed on purpose: {reason}")


@server.tool()
def sleep(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return "slept"


@server.tool()
def crash(code: int = 3) -> str:
    """Exit the server process in the middle of the call."""
    os._exit(code)


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def show_env(name: str) -> str:
    """Fail with the value of an environment variable in the message."""
    raise ToolError(f"{name} is {os.environ.get(name, '')}")


@server.tool()
def broken(x: int) -> int:
    """Advertised with an invalid schema (see list_tools below)."""
    return x


_list_tools = server.list_tools


async def _list_with_broken_schema() -> list[WireTool]:
    tools = await _list_tools()
    for tool in tools:
        if tool.name == "broken":
            tool.input_schema = {"type": "object", "properties": {"x": {"type": 12}}}
    return tools


server.list_tools = _list_with_broken_schema  # type: ignore[method-assign]


def main(argv: list[str]) -> Any:
    if len(argv) > 1 and argv[1] == "http":
        server.settings.log_level = "WARNING"
        return server.run("streamable-http", host="127.0.0.1", port=int(argv[2]))
    return server.run()


if __name__ == "__main__":
    main(sys.argv)
