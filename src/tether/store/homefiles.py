"""Everything tether writes under ``<home>`` goes through :class:`HomeFiles`.

One owner for the home's files, so that every write is atomic (a temporary file and a
rename, :func:`~tether.store.files.atomic_write`), every record is appended whole
(:func:`~tether.store.observations.append_observation`), and the layout lives in one place:

- ``rules/<name>.rule.yaml``: rules, reviewed in git;
- ``actions/<stem>.py``: actions, reviewed in git (a different file of the same name gets a
  ``_2``, ``_3`` … suffix, never an overwrite);
- ``archive/<stamp>-<name>/``: explored rules that did not verify, kept for a person to read;
- ``observations.jsonl``: one line per recovery attempt, exploration or unmatched failure;
- ``traces/``: the explorer's traces (written by the loop's tracer into :meth:`trace_path`).

The engine builds one per home and hands it down; nothing below the engine writes under the
home by itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from tether.store.files import atomic_write
from tether.store.observations import append_observation

__all__ = ["HomeFiles", "WritableRule"]


class WritableRule(Protocol):
    """What :meth:`HomeFiles.write_rule` needs of a rule (``tether.rules.model.Rule`` is one)."""

    @property
    def name(self) -> str: ...

    def to_yaml(self) -> str: ...


class HomeFiles:
    """The files under one home directory.

    Args:
        home: the home directory (need not exist; it is created on the first write).
    """

    def __init__(self, home: Path) -> None:
        self.home = home

    @property
    def rules_dir(self) -> Path:
        """``<home>/rules``: the rule files."""
        return self.home / "rules"

    @property
    def actions_dir(self) -> Path:
        """``<home>/actions``: the action modules."""
        return self.home / "actions"

    @property
    def observations(self) -> Path:
        """``<home>/observations.jsonl``: the append-only records."""
        return self.home / "observations.jsonl"

    def write_rule(self, rule: WritableRule) -> Path:
        """Write ``rule`` to ``rules/<name>.rule.yaml`` atomically; returns the path.

        Raises:
            OSError: the file could not be written (nothing changed on disk).
        """
        path = self.rules_dir / f"{rule.name}.rule.yaml"
        atomic_write(path, rule.to_yaml())
        return path

    def write_action(self, stem: str, code: str) -> Path:
        """Write action ``code`` to ``actions/<stem>.py`` atomically; returns the path.

        A file of that name with other content is left alone: the code goes to
        ``<stem>_2.py``, ``<stem>_3.py`` … instead. The same content again is a no-op rewrite.

        Raises:
            OSError: the file could not be written.
        """
        path = self.actions_dir / f"{stem}.py"
        n = 2
        while path.exists() and path.read_text(encoding="utf-8") != code:
            path = self.actions_dir / f"{stem}_{n}.py"
            n += 1
        atomic_write(path, code)
        return path

    def archive(self, name: str, files: Mapping[str, str]) -> Path:
        """Keep ``files`` (file name -> text) under ``archive/<UTC stamp>-<name>/``; returns the
        folder.

        Raises:
            OSError: a file could not be written.
        """
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        folder = self.home / "archive" / f"{stamp}-{name}"
        for file, text in files.items():
            atomic_write(folder / file, text)
        return folder

    def observe(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` to ``observations.jsonl``, stamped with ``time_utc`` (redacted).

        Raises:
            StoreError: the file cannot be created or written.
        """
        append_observation(self.observations, {"time_utc": datetime.now(UTC).isoformat(), **record})

    def recent_observations(self, tail_bytes: int) -> list[dict[str, Any]]:
        """The records in the last ``tail_bytes`` bytes of ``observations.jsonl``, oldest first.

        Lines that are not JSON objects (a torn first line of the tail) are skipped; a missing
        file reads as no records.
        """
        path = self.observations
        try:
            with path.open("rb") as fh:
                fh.seek(max(path.stat().st_size - tail_bytes, 0))
                lines = fh.read().decode("utf-8", errors="replace").splitlines()
        except OSError:
            return []
        out: list[dict[str, Any]] = []
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def trace_path(self, name: str) -> Path:
        """Where a trace called ``name`` (``explore-….jsonl``) is written."""
        return self.home / "traces" / name
