"""Tools: functions an LLM may call while exploring or in a governed loop.

Registration only for now: ``@tool`` (process-wide) and ``engine.tool()``
record the function under its name with its docstring. JSON schemas from type
hints, validation of calls, timeouts and the built-in tools arrive with the
LLM layer; the registry below is what they will extend.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, overload

__all__ = ["Tool", "ToolRegistry", "default_tools", "tool"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Tool:
    """A registered tool: name, function, and the description the model will read."""

    name: str
    fn: Callable[..., Any]
    description: str


class ToolRegistry:
    """Tools by name."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, fn: F, *, name: str | None = None, description: str | None = None) -> F:
        """Register ``fn`` as a tool (default name: the function's name)."""
        if not callable(fn):
            raise TypeError(f"a tool must be a function, got {type(fn).__name__}")
        text = description if description is not None else (inspect.getdoc(fn) or "")
        entry = Tool(name or fn.__name__, fn, text)
        self._tools[entry.name] = entry
        return fn

    def get(self, name: str) -> Tool | None:
        """The tool named ``name``, or ``None``."""
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)


default_tools = ToolRegistry()
"""Where the standalone ``@tool`` registers."""


@overload
def tool(fn: F, /) -> F: ...
@overload
def tool(*, name: str | None = None, description: str | None = None) -> Callable[[F], F]: ...
def tool(
    fn: F | None = None, /, *, name: str | None = None, description: str | None = None
) -> F | Callable[[F], F]:
    """Register a function as a tool, bare (``@tool``) or called (``@tool()``, ``@tool(name=...)``)."""
    if fn is not None:
        return default_tools.register(fn, name=name, description=description)

    def decorate(f: F) -> F:
        return default_tools.register(f, name=name, description=description)

    return decorate
