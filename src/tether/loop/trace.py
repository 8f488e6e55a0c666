"""The run's events: appended live to a JSONL trace and handed to ``on_event``.

Each event is one JSON object per line — ``{"seq", "t", "event", ...fields}`` —
with secrets redacted before anything is written. The file is opened in append
mode and flushed per event, so a crash loses at most the event being written
and a reader can follow the run live (``tail -f``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from tether.errors import ConfigError
from tether.store.redact import redact, secret_values

__all__ = ["Trace", "tool_error_line"]


class Trace:
    """Records events to ``path`` (optional) and ``on_event`` (optional), keeping them in memory.

    Args:
        path: the JSONL file to append to (parents created).
        on_event: called with each event dict after it is written.
        clock: wall-clock seconds for the ``t`` field.

    Raises:
        ConfigError: ``path`` cannot be opened for appending (named in the message).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.on_event = on_event
        self.clock = clock
        self.events: list[dict[str, Any]] = []
        self.callback_errors: list[str] = []
        """Exceptions ``on_event`` raised (the run goes on; they are listed here)."""
        self._secrets = secret_values()
        self._fh: TextIO | None = None
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  (kept open for the run)
            except OSError as exc:
                raise ConfigError(
                    f"trace {self.path}: cannot append ({exc.strerror or exc})"
                ) from None

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Record one event; returns it as recorded (redacted)."""
        record = {"seq": len(self.events) + 1, "t": round(self.clock(), 6), "event": event}
        record.update(redact(fields, self._secrets))
        self.events.append(record)
        if self._fh is not None:
            self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            self._fh.flush()
        if self.on_event is not None:
            try:
                self.on_event(record)
            except Exception as exc:
                self.callback_errors.append(f"{type(exc).__name__}: {exc}")
        return record

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def tool_error_line(content: Any) -> str:
    """The first line of a failed tool result's text: its JSON ``message`` field when it has
    one (tool errors go back to the model as ``{"error": ..., "message": ...}``), else the text."""
    text = str(content or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("message"):
        text = str(parsed["message"])
    lines = text.strip().splitlines()
    return lines[0] if lines else ""
