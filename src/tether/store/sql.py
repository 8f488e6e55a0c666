"""The connection the table modules write their SQL against, once for both backends.

A table module (:mod:`tether.store.automation_slots`, :mod:`tether.store.inbox`) is a set of
functions over an :class:`SQL`: ``execute(sql, params)`` returns a :class:`Result` (the rows
and the row count), ``transaction()`` makes the statements inside it one atomic write. Each
backend gives one adapter:

- :class:`SQLiteSQL` over a ``sqlite3.Connection`` in autocommit mode (``isolation_level=None``):
  a transaction is ``BEGIN IMMEDIATE`` … ``COMMIT``, so writers queue on the file's write lock
  (the busy timeout) instead of failing, and a read-then-write inside it sees no other writer.
- :class:`PostgresSQL` over one pooled psycopg connection in autocommit mode: a transaction is
  psycopg's ``conn.transaction()``; the ``?`` placeholders become ``%s`` (:func:`pyformat`).

Statements are written as both databases speak them: ``?`` placeholders, ``INSERT … ON
CONFLICT … DO NOTHING / DO UPDATE`` for claims and counters, ``RETURNING`` (SQLite 3.35 and
later) where it saves a statement, ``IN (?, ?, …)`` rather than ``= ANY(?)``, no
``INSERT OR REPLACE``. The adapters do not translate driver errors: the store that made the
adapter does, around the whole call, so that a failed ``COMMIT`` is reported too, naming its
file or (masked) URL.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import psycopg

__all__ = ["SQL", "PostgresSQL", "Result", "SQLiteSQL", "marks", "pyformat"]


@dataclass(frozen=True)
class Result:
    """What one statement gave: its rows (``[]`` for a statement without a result set) and how
    many rows it inserted, changed or deleted (``rowcount``; ``-1`` where the driver does not
    know, as for a ``SELECT``)."""

    rows: list[tuple[Any, ...]]
    rowcount: int

    def first(self) -> tuple[Any, ...] | None:
        """The first row, or ``None`` when there is none."""
        return self.rows[0] if self.rows else None


class SQL(Protocol):
    """A database connection as the table modules see it (see the module docstring)."""

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``, for the rare statement the two spell differently."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Result:
        """Run one statement with ``?`` placeholders filled from ``params``.

        Raises:
            sqlite3.Error | psycopg.Error: the driver's error, as it came (the store reports it).
        """
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """A context manager: the statements inside are committed together at its end, or
        rolled back together when it raises. Not nested."""
        ...


def marks(values: Sequence[Any]) -> str:
    """``"?, ?, ?"``: one placeholder per value, for ``IN (…)`` (``values`` must not be empty).

    Raises:
        ValueError: ``values`` is empty (``IN ()`` is not SQL).
    """
    if not values:
        raise ValueError("IN () needs at least one value")
    return ", ".join("?" for _ in values)


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\?|%")


@lru_cache(maxsize=256)
def pyformat(sql: str) -> str:
    """``sql`` with its ``?`` placeholders as psycopg's ``%s`` and each ``%`` doubled.

    A ``?`` inside a quoted literal stays as it is.

    >>> pyformat("SELECT '?', a FROM t WHERE b = ? AND c LIKE 'x%'")
    "SELECT '?', a FROM t WHERE b = %s AND c LIKE 'x%%'"
    """

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "?":
            return "%s"
        return text.replace("%", "%%")

    return _PLACEHOLDER.sub(replace, sql)


class SQLiteSQL:
    """:class:`SQL` over a ``sqlite3.Connection`` opened with ``isolation_level=None``.

    The caller serialises use of the connection (the store's lock)."""

    dialect = "sqlite"

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Result:
        """See :meth:`SQL.execute`."""
        cursor = self.db.execute(sql, tuple(params))
        rows = cursor.fetchall() if cursor.description is not None else []
        return Result(rows, cursor.rowcount)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; ``ROLLBACK`` on any error."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")


class PostgresSQL:
    """:class:`SQL` over one psycopg connection in autocommit mode (from the store's pool).

    The caller holds the connection for the whole call (``with pool.connection() as conn``),
    so the statements of one transaction share it."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Result:
        """See :meth:`SQL.execute`."""
        cursor = self.conn.execute(pyformat(sql), tuple(params))
        rows = cursor.fetchall() if cursor.description is not None else []
        return Result(rows, cursor.rowcount)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN`` … ``COMMIT`` (psycopg's ``conn.transaction()``); rolled back on any error."""
        with self.conn.transaction():
            yield
