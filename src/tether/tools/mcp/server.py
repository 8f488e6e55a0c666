"""How to reach one MCP server: :class:`MCPServer`, a frozen configuration.

A command (stdio) or a URL (streamable HTTP), the time limits, how its tools are named, and
how often a crashed server is restarted. Validated at construction; it knows which of its
values are secrets (env and header values) so that no message shows them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from tether._types import Seconds, to_seconds
from tether.errors import MCPError

if TYPE_CHECKING:
    from tether.tools.mcp.connection import MCPConnection

__all__ = ["TOOL_NAME", "MCPServer", "require_mcp"]

TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""A name providers accept for a tool (and tether for a server): 1-64 of ``A-Z a-z 0-9 _ -``."""


def require_mcp() -> None:
    """Check that the ``mcp`` SDK can be imported.

    Raises:
        MCPError: it is not installed; the message says ``pip install 'tether[mcp]'``.
    """
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
        if not TOOL_NAME.match(self.name or ""):
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
        require_mcp()
        from tether.tools.mcp.connection import MCPConnection

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
