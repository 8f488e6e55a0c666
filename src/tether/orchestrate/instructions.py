"""Project instructions: ``AGENTS.md`` / ``CLAUDE.md`` at the project root, read bounded.

Those are the files Codex / Claude Code users keep their project's conventions in, so an agent
run reads them too: the first of ``AGENTS.md`` and ``CLAUDE.md`` found at the root is read
(both when both exist, ``AGENTS.md`` first), each cut at :data:`MAX_INSTRUCTION_BYTES`. Only the
root counts: nested copies and parents are not searched, so what reaches the prompt is
predictable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["INSTRUCTION_FILES", "MAX_INSTRUCTION_BYTES", "Instructions", "read_instructions"]

INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md")
"""The file names read at the project root, in this order."""

MAX_INSTRUCTION_BYTES = 8 * 1024
"""Most bytes of one instruction file that reach a prompt (the rest is cut, and said so)."""


@dataclass(frozen=True)
class Instructions:
    """Project instructions as read.

    Attributes:
        files: the files read, in order.
        text: their bounded text, each under a ``# From <name>`` line; empty when none.
        truncated: whether a file was cut at :data:`MAX_INSTRUCTION_BYTES`.
    """

    files: tuple[Path, ...] = ()
    text: str = ""
    truncated: bool = False


def read_instructions(
    root: str | Path, *, limit_bytes: int = MAX_INSTRUCTION_BYTES
) -> Instructions:
    """Read ``AGENTS.md`` and ``CLAUDE.md`` at ``root``, each bounded to ``limit_bytes``.

    A file that cannot be read or decoded is skipped (instructions are advice, never a reason for
    a run to fail); undecodable bytes are replaced.

    Args:
        root: the project root (the run's ``--cwd``).
        limit_bytes: most bytes per file.
    """
    base = Path(root)
    files: list[Path] = []
    parts: list[str] = []
    truncated = False
    for name in INSTRUCTION_FILES:
        path = base / name
        if not path.is_file():
            continue
        try:
            with open(path, "rb") as fh:
                raw = fh.read(limit_bytes + 1)
        except OSError:
            continue
        cut = len(raw) > limit_bytes
        text = raw[:limit_bytes].decode("utf-8", errors="replace").strip()
        if cut:
            truncated = True
            text += f"\n[… {name} cut at {limit_bytes} bytes]"
        files.append(path)
        parts.append(f"# From {name}\n{text}")
    return Instructions(tuple(files), "\n\n".join(parts), truncated)
