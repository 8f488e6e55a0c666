"""Built-in tools: files and commands, on a loose leash or a tight one.

The loose leash — :func:`read_file`, :func:`write_file`, :func:`list_directory`,
:func:`run_command` — acts wherever the process may. The tight leash is a
:class:`Workspace`: the same four tools bound to one directory, where every
path is resolved (symlinks followed) and refused if it lands outside, and
commands run with the workspace as their working directory. The seed leaves
this choice implicit; tether makes it a visible decision at the call site::

    tools = builtin_tools()                       # loose: the whole machine
    tools = Workspace("/srv/checkout").tools()    # tight: one directory

``run_command`` runs the program in its own process group; at its timeout the
group gets SIGTERM and, after a grace period, SIGKILL. Its output is capped
per stream keeping the head and the tail (errors and exit summaries come
last), and the result says when bytes were dropped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tether.errors import ToolError
from tether.process.command import run_command as _run
from tether.tools.tool import Tool

__all__ = [
    "COMMAND_GRACE_S",
    "COMMAND_HEAD_BYTES",
    "COMMAND_TAIL_BYTES",
    "READ_LIMIT_BYTES",
    "Workspace",
    "builtin_tools",
    "list_directory",
    "read_file",
    "run_command",
    "write_file",
]

READ_LIMIT_BYTES = 256 * 1024
"""Most bytes :func:`read_file` returns in one call."""
COMMAND_HEAD_BYTES = 4 * 1024
"""Bytes of each stream :func:`run_command` keeps from the start."""
COMMAND_TAIL_BYTES = 12 * 1024
"""Bytes of each stream :func:`run_command` keeps from the end."""
COMMAND_GRACE_S = 2.0
"""Seconds between SIGTERM and SIGKILL when :func:`run_command` times out."""


def read_file(path: str, offset: int = 0, limit: int = READ_LIMIT_BYTES) -> str:
    """Read a text file (UTF-8, undecodable bytes replaced).

    Args:
        path: the file to read.
        offset: byte offset to start from.
        limit: most bytes to return; the text ends with a note when the file goes on.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        fh.seek(max(offset, 0))
        data = fh.read(max(min(limit, READ_LIMIT_BYTES), 0))
    text = data.decode("utf-8", errors="replace")
    end = max(offset, 0) + len(data)
    if end < size:
        text += f"\n[... file continues: {size - end} more bytes; read again with offset={end} ...]"
    return text


def write_file(path: str, content: str) -> str:
    """Write text to a file, creating parent directories; replaces the file atomically.

    Args:
        path: the file to write.
        content: the whole new content.
    """
    from tether.store.files import atomic_write

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, content)
    return f"wrote {len(content.encode())} bytes to {path}"


def list_directory(path: str = ".") -> list[str]:
    """List a directory's entries, sorted; directories end with '/'.

    Args:
        path: the directory to list.
    """
    with os.scandir(path) as entries:
        return sorted(e.name + ("/" if e.is_dir() else "") for e in entries)


def run_command(
    command: str | list[str], cwd: str | None = None, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Run a command and return its exit code, stdout and stderr.

    Args:
        command: a shell command line (run with /bin/sh -c) or an argv list (run directly).
        cwd: the working directory (default: the current one).
        timeout_s: seconds before the command's process group is terminated (exit code 124).
    """
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise ToolError("run_command: empty command")
    result = _run(
        argv,
        cwd=cwd,
        stream=False,
        timeout_s=max(float(timeout_s), 0.001),
        grace_s=COMMAND_GRACE_S,
        head_bytes=COMMAND_HEAD_BYTES,
        tail_bytes=COMMAND_TAIL_BYTES,
    )
    return {
        "exit_code": result.exit_code,
        "stdout": result.stdout,
        "stderr": result.stderr,
        "truncated": result.truncated,
        "timed_out": result.timed_out,
        "duration_s": round(result.duration_s, 3),
    }


def builtin_tools(*, command_timeout_s: float = 600.0) -> list[Tool]:
    """The four loose-leash tools, ready for a :class:`~tether.tools.ToolRunner`.

    Args:
        command_timeout_s: the most seconds ``run_command`` may run, whatever ``timeout_s``
            the model asks for.
    """
    return _tools(None, command_timeout_s)


class Workspace:
    """Built-in tools confined to one directory.

    Args:
        root: the directory the tools may touch; resolved once (symlinks followed).

    Raises:
        ToolError: ``root`` is not a directory.

    Paths given to the tools are taken relative to ``root`` (absolute paths are
    allowed when they resolve inside it). A path whose resolution — symlinks
    included — leaves ``root`` is refused with a :class:`~tether.errors.ToolError`,
    which the model reads as a tool error. ``run_command`` starts inside the
    workspace, but what the command itself then touches is up to the command:
    confinement of a program needs an OS sandbox, which this is not.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise ToolError(f"workspace {root}: not a directory")

    def resolve(self, path: str) -> Path:
        """``path`` inside the workspace, resolved.

        Raises:
            ToolError: it resolves outside the workspace.
        """
        candidate = (self.root / path).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            raise ToolError(f"{path!r} is outside the workspace {self.root}; use a path inside it")
        return candidate

    def tools(self, *, command_timeout_s: float = 600.0) -> list[Tool]:
        """The four tools, confined to this workspace."""
        return _tools(self, command_timeout_s)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"


def _tools(ws: Workspace | None, command_timeout_s: float) -> list[Tool]:
    """The four tools, with paths passed through ``ws.resolve`` when confined."""

    def where(path: str) -> str:
        return str(ws.resolve(path)) if ws is not None else path

    scope = "in the workspace " if ws is not None else ""

    def read_file_tool(path: str, offset: int = 0, limit: int = READ_LIMIT_BYTES) -> str:
        return read_file(where(path), offset, limit)

    def write_file_tool(path: str, content: str) -> str:
        return write_file(where(path), content)

    def list_directory_tool(path: str = ".") -> list[str]:
        return list_directory(where(path))

    def run_command_tool(
        command: str | list[str], cwd: str | None = None, timeout_s: float = 120.0
    ) -> dict[str, Any]:
        directory = where(cwd or ".") if ws is not None else cwd
        return run_command(command, directory, min(timeout_s, command_timeout_s))

    pairs = [
        (read_file_tool, read_file),
        (write_file_tool, write_file),
        (list_directory_tool, list_directory),
        (run_command_tool, run_command),
    ]
    for wrapper, original in pairs:
        wrapper.__doc__ = (original.__doc__ or "").replace(
            "Run a command", f"Run a command {scope}".rstrip()
        )
        if ws is not None:
            wrapper.__doc__ = wrapper.__doc__.replace(
                "path: the", "path: relative to the workspace, the"
            )
    return [
        Tool.from_function(read_file_tool, name="read_file", parallel_safe=True, timeout_s=30),
        Tool.from_function(write_file_tool, name="write_file", timeout_s=30),
        Tool.from_function(
            list_directory_tool, name="list_directory", parallel_safe=True, timeout_s=30
        ),
        Tool.from_function(run_command_tool, name="run_command", timeout_s=command_timeout_s + 10),
    ]
