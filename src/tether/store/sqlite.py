"""The embedded store: ``<home>/tether.db``, SQLite in WAL mode.

Several processes may share one home: WAL lets readers run beside the single
writer, every write is one short transaction, and writers wait for each other
(busy timeout) instead of failing, so concurrent recoveries lose no count.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from tether.errors import StoreError
from tether.store import RuleStats, tasks
from tether.store import automation_slots as _slots
from tether.store import inbox as _inbox
from tether.store.migrations import migrate
from tether.store.sql import SQL, SQLiteSQL

__all__ = ["BUSY_TIMEOUT_S", "SQLiteStore"]

_T = TypeVar("_T")

BUSY_TIMEOUT_S = 30.0
"""How long a writer waits for another process's write to finish, in seconds."""


def _enable_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL, waiting out other processes that hold the new file's write lock.

    SQLite answers this pragma with "database is locked" at once, without the
    busy timeout, while another connection writes a not-yet-WAL file; several
    processes opening a new home together hit exactly that.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


class SQLiteStore:
    """The :class:`~tether.store.Store` on one SQLite file.

    The connection opens on first use; one connection per store object, guarded
    by a lock so threads may share it.

    Raises:
        StoreError: the file cannot be created, opened or written (with the path and the cause).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(
                    self.path,
                    timeout=BUSY_TIMEOUT_S,
                    isolation_level=None,
                    check_same_thread=False,
                )
                _enable_wal(db)
                db.execute("PRAGMA synchronous=NORMAL")
                try:
                    migrate(db, where=str(self.path))
                except StoreError:  # a schema from a newer tether: refused, file untouched
                    db.close()
                    raise
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(
                    f"{self.path}: cannot open the store ({exc}); check that the home directory "
                    "is writable, or point TETHER_HOME elsewhere"
                ) from None
            self._db = db
        return self._db

    def open(self) -> None:
        """Connect now (creating and migrating the file if needed) rather than on first use.

        Raises:
            StoreError: the file cannot be opened (the message names it and what to do).
        """
        with self._lock:
            self._connect()

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._lock:
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(sql, rows)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise StoreError(f"{self.path}: write failed ({exc})") from None

    def record_outcome(self, rule: str, outcome: str) -> None:
        """Count one application of ``rule``; ``outcome`` is ``"success"`` or ``"failure"``."""
        if outcome not in ("success", "failure"):
            raise ValueError(f"outcome must be 'success' or 'failure', not {outcome!r}")
        won = int(outcome == "success")
        self._write(
            """
            INSERT INTO rule_stats (rule, hits, successes, failures, last_outcome, last_used_utc)
            VALUES (?, 1, ?, ?, ?, ?)
            ON CONFLICT (rule) DO UPDATE SET
                hits = hits + 1,
                successes = successes + excluded.successes,
                failures = failures + excluded.failures,
                last_outcome = excluded.last_outcome,
                last_used_utc = excluded.last_used_utc
            """,
            [(rule, won, 1 - won, outcome, datetime.now(UTC).isoformat())],
        )

    def rule_stats(self) -> list[RuleStats]:
        """Every rule's statistics, most used first."""
        with self._lock:
            rows = (
                self._connect()
                .execute(
                    "SELECT rule, hits, successes, failures, last_outcome, last_used_utc "
                    "FROM rule_stats ORDER BY hits DESC, rule"
                )
                .fetchall()
            )
        return [RuleStats(*row) for row in rows]

    def get_many(self, paths: Iterable[str]) -> dict[str, tuple[int, int, list[dict[str, Any]]]]:
        """Cached parse results for ``paths`` (see ``tether.rules.load.RuleCache``)."""
        wanted = set(paths)
        if not wanted:
            return {}
        with self._lock:
            rows = (
                self._connect()
                .execute("SELECT path, mtime_ns, size_bytes, data_json FROM rule_cache")
                .fetchall()
            )
        out = {}
        for path, mtime_ns, size, data in rows:
            if path in wanted:
                out[path] = (mtime_ns, size, json.loads(data))
        return out

    def put_many(self, rows: Iterable[tuple[str, int, int, list[dict[str, Any]]]]) -> None:
        """Cache parse results: ``(path, mtime_ns, size_bytes, data)`` rows."""
        self._write(
            "INSERT OR REPLACE INTO rule_cache (path, mtime_ns, size_bytes, data_json) "
            "VALUES (?, ?, ?, ?)",
            [(p, m, s, json.dumps(d, separators=(",", ":"))) for p, m, s, d in rows],
        )

    def prune_rule_cache(self, folders: Iterable[str], keep: Iterable[str]) -> int:
        """Drop cached rows of files directly in one of ``folders`` whose key is not in ``keep``.

        Args:
            folders: key prefixes, each a folder's path ending in a separator (possibly
                tagged, see ``tether.rules.load.cache_key``); a row is in a folder when its
                key starts with the prefix and the rest has no separator.
            keep: keys of the rows to keep.

        Returns:
            How many rows were dropped.

        Raises:
            StoreError: the store cannot be written.
        """
        import os

        prefixes = list(folders)
        kept = set(keep)
        with self._lock:
            paths = [r[0] for r in self._connect().execute("SELECT path FROM rule_cache")]
        gone = [
            (p,)
            for p in paths
            if p not in kept
            and any(p.startswith(f) and os.sep not in p[len(f) :] for f in prefixes)
        ]
        if gone:
            self._write("DELETE FROM rule_cache WHERE path = ?", gone)
        return len(gone)

    def save_regulator_state(
        self, user_id: str, state_json: str, *, expected_version: int | None = None
    ) -> bool:
        """Keep ``user_id``'s learned regulator state (see ``tether.regulator``).

        ``expected_version=None`` replaces whatever is saved; an int replaces it only if the
        saved version is still that one (``0``: nothing saved yet). Each save adds 1 to the
        version. Returns False when another writer saved first (nothing is changed).
        """
        now = datetime.now(UTC).isoformat()
        if expected_version is None:
            sql = (
                "INSERT INTO regulator_state (user_id, state_json, updated_utc, version) "
                "VALUES (?, ?, ?, 1) ON CONFLICT (user_id) DO UPDATE SET "
                "state_json = excluded.state_json, updated_utc = excluded.updated_utc, "
                "version = regulator_state.version + 1"
            )
            params: tuple[Any, ...] = (user_id, state_json, now)
        elif expected_version == 0:
            sql = (
                "INSERT INTO regulator_state (user_id, state_json, updated_utc, version) "
                "VALUES (?, ?, ?, 1) ON CONFLICT (user_id) DO NOTHING"
            )
            params = (user_id, state_json, now)
        else:
            sql = (
                "UPDATE regulator_state SET state_json = ?, updated_utc = ?, "
                "version = version + 1 WHERE user_id = ? AND version = ?"
            )
            params = (state_json, now, user_id, expected_version)
        with self._lock:
            db = self._connect()
            try:
                cursor = db.execute(sql, params)
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: write failed ({exc})") from None
        return cursor.rowcount == 1

    def load_regulator_state_versioned(self, user_id: str) -> tuple[str, int] | None:
        """The saved regulator state of ``user_id`` and its version, or ``None``."""
        with self._lock:
            row = (
                self._connect()
                .execute(
                    "SELECT state_json, version FROM regulator_state WHERE user_id = ?",
                    (user_id,),
                )
                .fetchone()
            )
        return None if row is None else (str(row[0]), int(row[1]))

    def load_regulator_state(self, user_id: str) -> str | None:
        """The learned regulator state saved for ``user_id``, or ``None``."""
        with self._lock:
            row = (
                self._connect()
                .execute("SELECT state_json FROM regulator_state WHERE user_id = ?", (user_id,))
                .fetchone()
            )
        return None if row is None else str(row[0])

    # -- approvals (see tether.loop.approval) -----------------------------------------------------

    def add_approval(
        self,
        token: str,
        state_path: str,
        request: dict[str, Any],
        created_s: float,
        expires_s: float,
    ) -> None:
        """Record a pending approval request; times are Unix seconds."""
        self._write(
            "INSERT INTO approvals (token, state_path, request_json, status, created_unix_s, "
            "expires_unix_s) VALUES (?, ?, ?, 'pending', ?, ?)",
            [(token, state_path, json.dumps(request, default=str), created_s, expires_s)],
        )

    def get_approval(self, token: str) -> dict[str, Any] | None:
        """The approval row for ``token`` as a dict, or ``None`` when unknown."""
        with self._lock:
            row = (
                self._connect()
                .execute(
                    "SELECT token, state_path, request_json, status, created_unix_s, "
                    "expires_unix_s, decided_unix_s, note FROM approvals WHERE token = ?",
                    (token,),
                )
                .fetchone()
            )
        if row is None:
            return None
        keys = (
            "token",
            "state_path",
            "request",
            "status",
            "created_s",
            "expires_s",
            "decided_s",
            "note",
        )
        out = dict(zip(keys, row, strict=True))
        out["request"] = json.loads(out["request"])
        return out

    def pending_approvals(self) -> list[dict[str, Any]]:
        """Every approval still pending, oldest first."""
        with self._lock:
            tokens = [
                r[0]
                for r in self._connect()
                .execute(
                    "SELECT token FROM approvals WHERE status = 'pending' ORDER BY created_unix_s"
                )
                .fetchall()
            ]
        return [row for t in tokens if (row := self.get_approval(t)) is not None]

    def set_approval_status(
        self,
        token: str,
        status: str,
        *,
        when: tuple[str, ...] = ("pending",),
        note: str = "",
        now_s: float,
    ) -> bool:
        """Move ``token`` to ``status`` if its current status is one of ``when``; True if it moved.

        The check and the change are one statement, so two shells deciding at once cannot both win.
        """
        marks = ", ".join("?" for _ in when)
        with self._lock:
            db = self._connect()
            try:
                cursor = db.execute(
                    f"UPDATE approvals SET status = ?, decided_unix_s = ?, note = ? "
                    f"WHERE token = ? AND status IN ({marks})",
                    (status, now_s, note, token, *when),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: write failed ({exc})") from None
        return cursor.rowcount == 1

    def close(self) -> None:
        """Close the connection (the store reopens on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- tables whose SQL is shared with PostgreSQL (see tether.store.sql) ------------------------

    def _tables(self, what: str, call: Callable[[SQL], _T]) -> _T:
        """Run ``call`` on this file's connection (under the lock), SQLite's errors as
        :class:`StoreError` naming the file and ``what`` was being done."""
        with self._lock:
            db = self._connect()
            try:
                return call(SQLiteSQL(db))
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: {what} failed ({exc})") from None

    # -- automations (SQL in tether.store.automation_slots) ---------------------------------------

    def claim_slots(self, rows: Iterable[tuple[str, float, str, str, str, float]]) -> list[bool]:
        """See :meth:`tether.store.Store.claim_slots`."""
        return self._tables("claiming slots", lambda db: _slots.claim(db, rows))

    def update_slot(
        self,
        automation: str,
        slot_s: float,
        *,
        status: str,
        when: tuple[str, ...],
        fields: dict[str, Any],
    ) -> bool:
        """See :meth:`tether.store.Store.update_slot`."""
        return self._tables(
            "updating a slot",
            lambda db: _slots.update(
                db, automation, slot_s, status=status, when=when, fields=fields
            ),
        )

    def slot_rows(
        self, automation: str, *, statuses: tuple[str, ...] = (), limit: int | None = None
    ) -> list[dict[str, Any]]:
        """See :meth:`tether.store.Store.slot_rows`."""
        return self._tables(
            "reading slots",
            lambda db: _slots.rows(db, automation, statuses=statuses, limit=limit),
        )

    def last_slot(self, automation: str) -> float | None:
        """See :meth:`tether.store.Store.last_slot`."""
        return self._tables("reading slots", lambda db: _slots.last_slot(db, automation))

    def slot_usage(self, automation: str, since_s: float) -> tuple[int, float]:
        """See :meth:`tether.store.Store.slot_usage`."""
        return self._tables(
            "reading slot usage", lambda db: _slots.usage_since(db, automation, since_s)
        )

    # -- inbox (SQL in tether.store.inbox) --------------------------------------------------------

    def inbox_put(
        self, key: str, title: str, detail: str, run_id: str | None, now_s: float
    ) -> dict[str, Any]:
        """See :meth:`tether.store.Store.inbox_put`."""
        return self._tables(
            "putting an inbox item",
            lambda db: _inbox.put(db, key, title, detail, run_id, now_s),
        )

    def inbox_items(self, statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """See :meth:`tether.store.Store.inbox_items`."""
        return self._tables("reading the inbox", lambda db: _inbox.items(db, statuses))

    def inbox_get(self, ref: str | int) -> dict[str, Any] | None:
        """See :meth:`tether.store.Store.inbox_get`."""
        return self._tables("reading the inbox", lambda db: _inbox.get(db, ref))

    def inbox_set_status(self, item_id: int, status: str, now_s: float) -> bool:
        """See :meth:`tether.store.Store.inbox_set_status`."""
        return self._tables(
            "changing an inbox item",
            lambda db: _inbox.set_status(db, item_id, status, now_s),
        )

    # -- agent task memory (SQL in tether.store.tasks) --------------------------------------------

    def record_task_run(self, run: dict[str, Any], title: str) -> None:
        """See :meth:`tether.store.Store.record_task_run`."""
        self._tables("recording a task run", lambda db: tasks.record_task_run(db, run, title))

    def list_tasks(self, task_key: str | None = None) -> list[dict[str, Any]]:
        """See :meth:`tether.store.Store.list_tasks`."""
        return self._tables("reading tasks", lambda db: tasks.list_tasks(db, task_key))

    def list_task_runs(self, task_key: str, limit: int = 20) -> list[dict[str, Any]]:
        """See :meth:`tether.store.Store.list_task_runs`."""
        return self._tables(
            "reading task runs", lambda db: tasks.list_task_runs(db, task_key, limit)
        )

    def delete_tasks(self, task_key: str | None = None) -> int:
        """See :meth:`tether.store.Store.delete_tasks`."""
        return self._tables("deleting tasks", lambda db: tasks.delete_tasks(db, task_key))
