"""SQL of the agent's task memory (``tasks`` and ``task_runs``), as functions over a connection.

A *task* is what one or more agent runs worked toward, keyed by a task key (``--task KEY``, or
one derived from the prompt). Each run appends a row to ``task_runs``; the ``tasks`` row keeps
the latest status and a run count. Statuses come from the **verified** outcome (a goal run's
status, else the loop's), never from model text. The run count is one ``INSERT … ON CONFLICT
DO UPDATE`` (no count lost to processes recording at once).

The functions take an :class:`~tether.store.sql.SQL`, so :class:`~tether.store.sqlite.SQLiteStore`
and :class:`~tether.store.postgres.PostgresStore` run the same statements (one line a method);
the tables come from the migration ``m007_tasks``.
"""

from __future__ import annotations

from typing import Any

from tether.store.sql import SQL

__all__ = ["delete_tasks", "list_task_runs", "list_tasks", "record_task_run"]

_TASK_COLUMNS = (
    "task_key",
    "title",
    "status",
    "reason",
    "runs",
    "last_run_id",
    "first_unix_s",
    "last_unix_s",
)
_RUN_COLUMNS = (
    "run_id",
    "task_key",
    "status",
    "reason",
    "kind",
    "tokens",
    "cost_usd",
    "created_unix_s",
)


def record_task_run(db: SQL, run: dict[str, Any], title: str) -> None:
    """Append one run and update its task, in one transaction.

    Args:
        db: the store's connection.
        run: the ``task_runs`` columns (``run_id``, ``task_key``, ``status``, ``reason``,
            ``kind``, ``tokens``, ``cost_usd``, ``created_unix_s``).
        title: the task's title (the first line of the prompt), kept from its first run.
    """
    with db.transaction():
        db.execute(
            f"INSERT INTO task_runs ({', '.join(_RUN_COLUMNS)}) VALUES "
            f"({', '.join('?' for _ in _RUN_COLUMNS)})",
            tuple(run[c] for c in _RUN_COLUMNS),
        )
        db.execute(
            "INSERT INTO tasks (task_key, title, status, reason, runs, last_run_id, first_unix_s, "
            "last_unix_s) VALUES (?, ?, ?, ?, 1, ?, ?, ?) "
            "ON CONFLICT (task_key) DO UPDATE SET status = excluded.status, "
            "reason = excluded.reason, runs = tasks.runs + 1, last_run_id = excluded.last_run_id, "
            "last_unix_s = excluded.last_unix_s",
            (
                run["task_key"],
                title,
                run["status"],
                run["reason"],
                run["run_id"],
                run["created_unix_s"],
                run["created_unix_s"],
            ),
        )


def list_tasks(db: SQL, task_key: str | None = None) -> list[dict[str, Any]]:
    """Every task (or the one ``task_key``), most recently run first, as dicts of its columns."""
    sql = f"SELECT {', '.join(_TASK_COLUMNS)} FROM tasks"
    args: tuple[Any, ...] = ()
    if task_key is not None:
        sql += " WHERE task_key = ?"
        args = (task_key,)
    rows = db.execute(sql + " ORDER BY last_unix_s DESC, task_key", args).rows
    return [dict(zip(_TASK_COLUMNS, row, strict=True)) for row in rows]


def list_task_runs(db: SQL, task_key: str, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` runs of ``task_key``, newest first, as dicts of their columns."""
    rows = db.execute(
        f"SELECT {', '.join(_RUN_COLUMNS)} FROM task_runs WHERE task_key = ? "
        "ORDER BY created_unix_s DESC, run_id LIMIT ?",
        (task_key, limit),
    ).rows
    return [dict(zip(_RUN_COLUMNS, row, strict=True)) for row in rows]


def delete_tasks(db: SQL, task_key: str | None = None) -> int:
    """Forget every task (or the one ``task_key``) and its runs, in one transaction; returns
    how many tasks went."""
    where, args = ("", ()) if task_key is None else (" WHERE task_key = ?", (task_key,))
    with db.transaction():
        db.execute("DELETE FROM task_runs" + where, args)
        return db.execute("DELETE FROM tasks" + where, args).rowcount
