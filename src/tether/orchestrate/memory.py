"""Task memory: what earlier agent runs of the same task ended with, from the store.

A task is keyed by ``--task KEY`` or, without one, by a key derived from the prompt
(:func:`task_key`: a slug of its first words plus a hash of the normalised text, so the same
prompt always lands on the same task). Each finished run records its **verified** status (the
goal run's status, else the loop's) and reason; nothing the model wrote decides it. Dry runs
record nothing.

Memory reaches a prompt only when asked (``--memory``), and then only the task's own history,
bounded to :data:`MAX_MEMORY_BYTES`. Several processes may record at once: each record is one
SQLite transaction (WAL, busy timeout), so none is lost.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tether.store import Store

__all__ = ["MAX_MEMORY_BYTES", "Memory", "TaskRecord", "task_key"]

MAX_MEMORY_BYTES = 2048
"""Most bytes of memory text that reach a prompt."""

_WORD = re.compile(r"[a-z0-9]+")


def task_key(prompt: str) -> str:
    """A stable key for ``prompt``: ``<first words slug>-<8 hex of the normalised prompt's hash>``.

    Normalised: lowercased, runs of whitespace collapsed, so spacing and case do not make a new task.
    """
    normal = " ".join(prompt.lower().split())
    words = _WORD.findall(normal)[:6]
    slug = "-".join(words)[:40].strip("-") or "task"
    return f"{slug}-{hashlib.sha256(normal.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class TaskRecord:
    """One task as remembered: key, title, latest status and reason, run count, last run id,
    first/last run times (Unix seconds), and its latest runs (newest first, dicts)."""

    task_key: str
    title: str
    status: str
    reason: str
    runs: int
    last_run_id: str
    first_unix_s: float
    last_unix_s: float
    history: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``memory show --json`` prints)."""
        return {
            "task_key": self.task_key,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "runs": self.runs,
            "last_run_id": self.last_run_id,
            "first_unix_s": self.first_unix_s,
            "last_unix_s": self.last_unix_s,
            "history": list(self.history),
        }


class Memory:
    """Task memory over a :class:`~tether.store.Store`.

    Args:
        store: the store (``tether.store.open_store(home)``).
        clock: Unix seconds (injectable).
    """

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def record(
        self,
        key: str,
        *,
        run_id: str,
        status: str,
        reason: str = "",
        kind: str = "run",
        title: str = "",
        tokens: int = 0,
        cost_usd: float | None = None,
    ) -> None:
        """Record one finished run of task ``key``.

        Args:
            key: the task key.
            run_id: the run's id (unique).
            status: its verified status (``GOAL_MET``, ``SUCCESS``, ``BUDGET_EXHAUSTED`` ...).
            reason: why, in words (cut at 500 characters).
            kind: ``"run"`` or ``"goal"``.
            title: the prompt's first line (kept from the task's first run; cut at 200).
            tokens: input + output tokens the run spent.
            cost_usd: USD it spent, ``None`` when unpriced.

        Raises:
            StoreError: the store cannot be written.
        """
        row = {
            "run_id": run_id,
            "task_key": key,
            "status": status,
            "reason": reason[:500],
            "kind": kind,
            "tokens": tokens,
            "cost_usd": cost_usd,
            "created_unix_s": self.clock(),
        }
        self.store.record_task_run(
            row, title.strip().splitlines()[0][:200] if title.strip() else key
        )

    def tasks(self, key: str | None = None, *, history: int = 5) -> list[TaskRecord]:
        """Every task (or ``key``'s), most recent first, each with its latest ``history`` runs."""
        return [
            TaskRecord(**row, history=tuple(self.store.list_task_runs(row["task_key"], history)))
            for row in self.store.list_tasks(key)
        ]

    def reset(self, key: str | None = None) -> int:
        """Forget every task (or ``key``); returns how many tasks went."""
        return self.store.delete_tasks(key)

    def prompt_text(self, key: str, *, limit_bytes: int = MAX_MEMORY_BYTES) -> str:
        """What the model is told about task ``key``'s earlier runs, at most ``limit_bytes``
        (UTF-8); empty when the task has none."""
        found = self.tasks(key, history=10)
        if not found:
            return ""
        task = found[0]
        lines = [
            f"MEMORY of task {task.task_key} ({task.runs} earlier runs; statuses are verified):"
        ]
        for run in task.history:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(run["created_unix_s"]))
            lines.append(f"- {when} UTC {run['kind']} {run['status']}: {run['reason']}")
        out = ""
        for line in lines:
            candidate = f"{out}\n{line}" if out else line
            if len(candidate.encode()) > limit_bytes:
                break
            out = candidate
        return out
