"""What an MCP server said, as text: call results and the SDK's exceptions.

Pure functions over the SDK's objects (read by attribute, so this module imports no SDK):
:func:`result_text` renders a ``CallToolResult``'s content blocks, :func:`describe` names an
exception (the first leaf of an exception group, as anyio's task groups raise them), and
:func:`is_connection_error` tells a lost connection from a tool's own failure.
"""

from __future__ import annotations

from typing import Any

__all__ = ["describe", "is_connection_error", "leaf", "result_text"]


def result_text(result: Any) -> str:
    """The text of a ``CallToolResult``: text blocks as they are, one line per other block
    (``[image image/png, 1234 base64 chars]``, ``[resource file:///x]``), joined by newlines."""
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


def leaf(exc: BaseException) -> BaseException:
    """The first non-group exception inside ``exc`` (``exc`` itself when it is no group)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException) -> str:
    """``<Type>: <message>`` of ``exc``'s leaf (just ``<Type>`` when the message is empty)."""
    found = leaf(exc)
    text = str(found).strip()
    return f"{type(found).__name__}: {text}" if text else type(found).__name__


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` means the connection to the server is gone (a closed or broken stream,
    a refused or reset connection, an HTTP transport failure)."""
    import anyio

    found = leaf(exc)
    if isinstance(found, anyio.ClosedResourceError | anyio.BrokenResourceError | ConnectionError):
        return True
    return type(found).__name__ in ("ConnectError", "RemoteProtocolError", "ReadError")
