"""Reading a loop's JSONL trace back: the events, and the runs a file holds.

::

    from tether.loop.trace_read import load_trace, split_runs

    events = load_trace(".tether/traces/fix-tests.jsonl")
    for run in split_runs(events):   # a loop.start opens one; a resume continues the previous
        ...

The writer is :class:`~tether.loop.Trace`; :func:`tether.loop.explain.explain` reads what
this module returns.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tether._text import one_line
from tether.errors import ConfigError

__all__ = ["TRUNCATED_LINE", "load_trace", "split_runs"]

TRUNCATED_LINE = "trace.truncated_line"
"""The event :func:`load_trace` puts in place of a cut-off last line (fields ``line``, ``text``)."""


def load_trace(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSONL trace written by :class:`~tether.loop.Trace`.

    A last line cut off mid-write (no newline at its end, as a killed writer
    leaves it) is not an error: it is replaced by a :data:`TRUNCATED_LINE`
    event, which :func:`explain` reports as a note. Blank lines are skipped.

    Args:
        path: the ``.jsonl`` file.

    Returns:
        The events in file order, each a dict with at least ``"event"``.

    Raises:
        ConfigError: the file cannot be read, or a line (named by number) is not
            a JSON object with an ``"event"`` field.
    """
    where = Path(path)
    try:
        data = where.read_bytes()
    except OSError as exc:
        raise ConfigError(f"trace {where}: cannot read ({exc.strerror or exc})") from None
    lines = data.split(b"\n")
    last = len(lines) if data.endswith(b"\n") else len(lines) - 1  # index of an unterminated line
    events: list[dict[str, Any]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            events.append(_parse_line(raw))
        except ValueError as exc:
            if number - 1 == last:
                text = raw.decode("utf-8", "replace")
                events.append({"event": TRUNCATED_LINE, "line": number, "text": one_line(text, 80)})
                break
            raise ConfigError(f"trace {where}: line {number}: {exc}") from None
    return events


def _parse_line(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ValueError(f"a JSON {type(value).__name__}, not an event object")
    if not isinstance(value.get("event"), str):
        raise ValueError("no 'event' field: is this a tether loop trace?")
    return value


def split_runs(events: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group events into runs: a ``loop.start`` opens one, a resume continues the previous.

    A run opened by ``loop.start`` that says ``loop.resumed`` before its first
    ``iteration.start`` is merged into the run before it.
    """
    runs: list[list[dict[str, Any]]] = []
    fresh = False  # the latest run was opened by loop.start and has no iteration yet
    for event in events:
        name = event.get("event")
        if name == "loop.start" or not runs:
            runs.append([])
            fresh = name == "loop.start"
        elif name == "loop.resumed" and fresh and len(runs) > 1:
            runs[-2].extend(runs.pop())
            fresh = False
        elif name == "iteration.start":
            fresh = False
        runs[-1].append(event)
    return runs
