"""Tools: functions an LLM may call while exploring or in a governed loop.

``@tool`` (process-wide) and ``engine.tool()`` register plain functions; the
JSON schema comes from their type hints and docstring (:mod:`.schema`).
:class:`ToolRunner` (:mod:`.invoke`) validates a model's call, runs it with a
timeout and caps its output. Built-in tools (:mod:`.builtin`): ``read_file``,
``write_file``, ``list_directory``, ``run_command``, and :class:`Workspace`
for the confined variants. MCP servers' tools come through :mod:`.mcp`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tether._lazy import lazy_exports
from tether.tools.tool import (
    DEFAULT_TOOL_TIMEOUT_S,
    Tool,
    ToolRegistry,
    ToolResult,
    ToolStatus,
    default_tools,
    tool,
)

if TYPE_CHECKING:
    from tether.tools.builtin import (
        Workspace,
        builtin_tools,
        list_directory,
        read_file,
        run_command,
        write_file,
    )
    from tether.tools.invoke import ToolRunner
    from tether.tools.mcp import MCPConnection, MCPServer, MCPTimeout, MCPToolSkipped

__all__ = [
    "DEFAULT_TOOL_TIMEOUT_S",
    "MCPConnection",
    "MCPServer",
    "MCPTimeout",
    "MCPToolSkipped",
    "Tool",
    "ToolRegistry",
    "ToolResult",
    "ToolRunner",
    "ToolStatus",
    "Workspace",
    "builtin_tools",
    "default_tools",
    "list_directory",
    "read_file",
    "run_command",
    "tool",
    "write_file",
]

_LAZY = {
    "MCPConnection": "tether.tools.mcp",
    "MCPServer": "tether.tools.mcp",
    "MCPTimeout": "tether.tools.mcp",
    "MCPToolSkipped": "tether.tools.mcp",
    "ToolRunner": "tether.tools.invoke",
    "Workspace": "tether.tools.builtin",
    "builtin_tools": "tether.tools.builtin",
    "list_directory": "tether.tools.builtin",
    "read_file": "tether.tools.builtin",
    "run_command": "tether.tools.builtin",
    "write_file": "tether.tools.builtin",
}


__getattr__, __dir__ = lazy_exports(globals(), _LAZY)
