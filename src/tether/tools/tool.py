"""A tool: a plain function (or an MCP server's tool) the model may call.

Registration builds the JSON schema from type hints once (see
:mod:`tether.tools.schema`), so a function that cannot be a tool is refused
where it is declared. Calling a tool goes through :class:`tether.tools.invoke.ToolRunner`,
which validates arguments, applies the timeout and caps the output.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar, overload

from tether._types import Seconds, to_seconds
from tether.errors import ToolSchemaError
from tether.llm.types import ToolDefinition

__all__ = [
    "DEFAULT_TOOL_TIMEOUT_S",
    "Tool",
    "ToolRegistry",
    "ToolResult",
    "ToolStatus",
    "default_tools",
    "tool",
]

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_TOOL_TIMEOUT_S = 60.0
"""A tool call's time limit unless the tool sets its own, in seconds."""

ToolStatus: TypeAlias = Literal[
    "ok", "invalid_arguments", "unknown_tool", "error", "timeout", "unavailable"
]
"""How a tool call ended. Everything but ``ok`` goes back to the model as a structured error."""


@dataclass(frozen=True)
class Tool:
    """A registered tool.

    Attributes:
        name: what the model calls it.
        fn: the function (for MCP tools, a coroutine function calling the server).
        description: what the model reads about it.
        parameters: the JSON schema of its arguments.
        timeout_s: the time limit of one call, in seconds.
        parallel_safe: calls may run concurrently with other calls of the same turn.
        validator: the pydantic model checking arguments (``None``: JSON-schema tools, whose
            server validates; only required and unknown keys are checked here).
        is_async: ``fn`` is a coroutine function.
        source: ``"python"`` or ``"mcp:<server>"``.
    """

    name: str
    fn: Callable[..., Any]
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    timeout_s: float = DEFAULT_TOOL_TIMEOUT_S
    parallel_safe: bool = False
    validator: Any = None
    is_async: bool = False
    source: str = "python"

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: Seconds = DEFAULT_TOOL_TIMEOUT_S,
        parallel_safe: bool = False,
    ) -> Tool:
        """Build a tool from ``fn``'s signature and docstring.

        Raises:
            ToolSchemaError: ``fn`` is not a function, a parameter has no hint, is variadic,
                or has a hint with no JSON schema; or ``timeout_s`` is not a positive number.
        """
        if not callable(fn):
            raise ToolSchemaError(f"a tool must be a function, got {type(fn).__name__}")
        from tether.tools.schema import build_schema

        tool_name = _name(name if name else str(getattr(fn, "__name__", "")))
        schema = build_schema(fn, name=tool_name, description=description)
        return cls(
            name=tool_name,
            fn=fn,
            description=schema.description,
            parameters=schema.parameters,
            timeout_s=_timeout(tool_name, timeout_s),
            parallel_safe=parallel_safe,
            validator=schema.validator,
            is_async=schema.is_async,
        )

    @classmethod
    def from_schema(
        cls,
        name: str,
        call: Callable[..., Awaitable[Any]],
        *,
        description: str,
        parameters: dict[str, Any],
        timeout_s: Seconds = DEFAULT_TOOL_TIMEOUT_S,
        source: str = "python",
        parallel_safe: bool = False,
    ) -> Tool:
        """A tool described by a JSON schema, called as ``await call(**arguments)`` (MCP tools).

        Raises:
            ToolSchemaError: a name providers refuse, a schema that is not an object schema,
                or ``timeout_s`` not a positive number.
        """
        if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
            raise ToolSchemaError(f"tool {name!r}: parameters must be a JSON schema of an object")
        return cls(
            name=_name(name),
            fn=call,
            description=description,
            parameters=parameters,
            timeout_s=_timeout(name, timeout_s),
            parallel_safe=parallel_safe,
            is_async=True,
            source=source,
        )

    def definition(self) -> ToolDefinition:
        """The tool as the model sees it."""
        return ToolDefinition(self.name, self.description, self.parameters)


_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _name(name: str) -> str:
    """``name`` if model providers accept it as a tool name (1-64 of ``A-Za-z0-9_-``)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ToolSchemaError(f"tool name {name!r}: use 1-64 ASCII letters, digits, '_' or '-'")
    return name


def _timeout(name: str, value: Seconds) -> float:
    seconds = to_seconds(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ToolSchemaError(
            f"tool {name!r}: timeout_s must be a positive number of seconds, got {value!r}"
        )
    return seconds


@dataclass
class ToolResult:
    """The outcome of one tool call.

    Attributes:
        name: the tool's name as called.
        call_id: the call's id.
        status: ``ok`` or why not (see :data:`ToolStatus`).
        content: what goes back to the model: the output as text, or a JSON error object
            naming the problem and what to do.
        value: the function's return value (``ok`` only).
        truncated: the output was cut to the cap (head and tail kept).
        duration_s: wall time of the call, in seconds.
        retries_left: corrections the model may still make to this tool's call in this turn.
    """

    name: str
    call_id: str
    status: ToolStatus
    content: str
    value: Any = None
    truncated: bool = False
    duration_s: float = 0.0
    retries_left: int = 0

    @property
    def ok(self) -> bool:
        """True when the tool ran and returned."""
        return self.status == "ok"


class ToolRegistry:
    """Tools by name. Registering a name twice replaces the earlier tool."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {t.name: t for t in tools}

    def add(self, entry: Tool) -> Tool:
        """Add a built tool (built-ins, MCP tools)."""
        self._tools[entry.name] = entry
        return entry

    def register(
        self,
        fn: F,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: Seconds = DEFAULT_TOOL_TIMEOUT_S,
        parallel_safe: bool = False,
    ) -> F:
        """Register ``fn`` as a tool (default name: the function's name); returns ``fn``.

        Raises:
            ToolSchemaError: see :meth:`Tool.from_function`.
        """
        self.add(
            Tool.from_function(
                fn,
                name=name,
                description=description,
                timeout_s=timeout_s,
                parallel_safe=parallel_safe,
            )
        )
        return fn

    def get(self, name: str) -> Tool | None:
        """The tool named ``name``, or ``None``."""
        return self._tools.get(name)

    def remove(self, name: str) -> None:
        """Forget the tool named ``name`` (no error if absent)."""
        self._tools.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._tools)

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
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: Seconds = DEFAULT_TOOL_TIMEOUT_S,
    parallel_safe: bool = False,
) -> Callable[[F], F]: ...
def tool(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: Seconds = DEFAULT_TOOL_TIMEOUT_S,
    parallel_safe: bool = False,
) -> F | Callable[[F], F]:
    """Register a function as a tool, bare (``@tool``) or called (``@tool(timeout_s=10)``).

    The JSON schema comes from the type hints and the docstring's ``Args:`` section.

    Example::

        @tool(timeout_s=30, parallel_safe=True)
        def grep(pattern: str, path: str = ".") -> str:
            \"\"\"Search files for a regex.

            Args:
                pattern: the regex.
                path: where to search.
            \"\"\"

    Raises:
        ToolSchemaError: at registration, for a signature that cannot be a tool.
    """
    options = {
        "name": name,
        "description": description,
        "timeout_s": timeout_s,
        "parallel_safe": parallel_safe,
    }
    if fn is not None:
        return default_tools.register(fn, **options)  # type: ignore[arg-type]

    def decorate(f: F) -> F:
        return default_tools.register(f, **options)  # type: ignore[arg-type]

    return decorate
