"""A server's tools as tether :class:`~tether.tools.Tool` objects.

Names: a server's tool ``read_file`` is offered to the model as ``<server>__read_file``
(``files__read_file``), so that two servers (or a server and a built-in) never clash and the
model sees where a tool comes from. ``tool_prefix=""`` keeps the plain names, any other string
replaces ``"<server>__"``. Characters providers refuse in tool names are replaced by ``_``; a
tool whose final name is still unusable, clashes with another, or whose input schema is not a
valid JSON schema of an object is skipped with a :class:`MCPToolSkipped` warning, and the other
tools stay usable. A tool the server marks ``readOnlyHint`` may run in parallel.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from tether.tools.mcp.server import TOOL_NAME, MCPServer
from tether.tools.tool import Tool

__all__ = ["MCPToolSkipped", "build_tools", "schema_problem"]

logger = logging.getLogger("tether.tools.mcp")

_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")

Caller = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""``await call(wire_name, arguments)``: one call of the server's tool by its own name."""


class MCPToolSkipped(UserWarning):
    """A server's tool was left out: its input schema is invalid, or its name is unusable."""


def build_tools(server: MCPServer, listing: list[Any], call: Caller) -> list[Tool]:
    """One :class:`Tool` per usable tool of ``listing`` (the SDK's ``Tool`` objects).

    Args:
        server: whose tools they are (name, prefix, ``timeout_s``).
        listing: the server's tools, as listed.
        call: how a tool reaches the server.

    Warns:
        MCPToolSkipped: once per tool left out, saying why (also logged).
    """
    tools: list[Tool] = []
    taken: set[str] = set()
    for wire in listing:
        name = server.prefix + _BAD_NAME_CHARS.sub("_", wire.name)
        problem = schema_problem(wire.input_schema)
        if problem is None and not TOOL_NAME.match(name):
            problem = f"{name!r} is not a usable tool name (1-64 of A-Z a-z 0-9 _ -)"
        if problem is None and name in taken:
            problem = f"its name {name!r} clashes with another tool's"
        if problem is not None:
            message = f"MCP server {server.name!r}: skipping tool {wire.name!r}: {problem}"
            logger.warning("%s", message)
            warnings.warn(message, MCPToolSkipped, stacklevel=4)
            continue
        taken.add(name)
        read_only = bool(wire.annotations and wire.annotations.read_only_hint)
        tools.append(
            Tool.from_schema(
                name,
                _bound(call, wire.name),
                description=wire.description or wire.title or "",
                parameters=dict(wire.input_schema),
                timeout_s=server.timeout_s,
                source=f"mcp:{server.name}",
                parallel_safe=read_only,
            )
        )
    return tools


def _bound(call: Caller, wire_name: str) -> Any:
    async def bound(**arguments: Any) -> Any:
        return await call(wire_name, arguments)

    bound.__name__ = bound.__qualname__ = _BAD_NAME_CHARS.sub("_", wire_name)
    return bound


def schema_problem(schema: Any) -> str | None:
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
