"""``<home>/observations.jsonl``: one JSON line per recovery attempt, appended, never rewritten.

Each line is written with a single ``write`` on a file opened ``O_APPEND`` and
under an exclusive ``flock``, so lines from concurrent processes never
interleave. Secrets are redacted before a line is written (:mod:`tether.store.redact`).
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from tether.errors import StoreError
from tether.store.redact import redact

__all__ = ["append_observation", "read_observations"]


def append_observation(path: Path, record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``path`` (created with its directory if needed).

    Raises:
        StoreError: the file cannot be created or written.
    """
    line = (json.dumps(redact(record), default=str, ensure_ascii=False) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write observations ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write observations ({exc.strerror})") from None
    finally:
        os.close(fd)


def read_observations(path: Path) -> list[dict[str, Any]]:
    """Every record in ``path`` (a line that is not valid JSON is skipped)."""
    if not path.exists():
        return []
    out = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out
