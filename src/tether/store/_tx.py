"""One write transaction over a connection, with SQLite errors as :class:`StoreError`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from tether.errors import StoreError

__all__ = ["read_errors", "write_tx"]


@contextmanager
def write_tx(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any error).

    Raises:
        StoreError: SQLite refused the write (the cause in the message).
    """
    try:
        db.execute("BEGIN IMMEDIATE")
        yield db
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise StoreError(f"store write failed ({exc})") from None
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


@contextmanager
def read_errors() -> Iterator[None]:
    """Turn a SQLite error while reading into :class:`StoreError`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(f"store read failed ({exc})") from None
