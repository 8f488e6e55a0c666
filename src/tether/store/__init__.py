"""Where tether keeps records: one small interface, on SQLite or PostgreSQL.

:class:`Store` is the whole contract the rest of tether uses. The default is the
embedded SQLite file ``<home>/tether.db`` (:mod:`tether.store.sqlite`); a fleet of
runners shares one PostgreSQL database (:mod:`tether.store.postgres`, extra
``tether[fleet]``), selected by ``store: postgresql://...`` in ``config.yaml`` or
``$TETHER_STORE_URL``. Both run the same migrations (:mod:`tether.store.migrations`).

How to make a table work on both backends
-----------------------------------------
Write everything once; the two stores only hand over a connection. As the automation slots
(:mod:`tether.store.automation_slots`), the inbox (:mod:`tether.store.inbox`) and the agent's
task memory (:mod:`tether.store.tasks`) do:

1. **Schema**: a migration step in :mod:`tether.store.migrations`, in SQLite's spelling (the
   PostgreSQL runner maps ``INTEGER``/``REAL``/``BLOB`` and ``INTEGER PRIMARY KEY
   AUTOINCREMENT``; see its docstring). Add its columns to ``tests/store/test_migrate.py`` and
   its tables to the set in ``tests/store/test_postgres.py``.
2. **SQL**: a module ``tether/store/<table>.py`` of plain functions whose first argument is a
   :class:`tether.store.sql.SQL` (``db.execute(sql, params) -> Result`` with ``.rows`` and
   ``.rowcount``; ``with db.transaction():`` around a write of several statements). ``?``
   placeholders, ``IN ({marks(values)})``, standard SQL both speak. Concurrency stays in the
   database: a counter or a claim is one ``INSERT … ON CONFLICT … DO UPDATE / DO NOTHING``, a
   guarded change one ``UPDATE … WHERE status IN (…)`` judged by ``rowcount``, ``RETURNING``
   where it saves a statement; never read a value in Python and write it back. Let driver
   errors through (the store reports them).
3. **Protocol**: the methods on :class:`Store` below, with argument shapes and units.
4. **Backends**: one line a method in ``SQLiteStore`` and in ``PostgresStore``, the same in
   both: ``return self._tables("doing x", lambda db: table.fn(db, ...))``. ``_tables`` lends
   the connection (SQLite: the file's, under the lock, ``BEGIN IMMEDIATE``; PostgreSQL: a
   pooled one, ``?`` as ``%s``) and turns the driver's errors into :class:`StoreError` naming
   the file or the masked URL and what was being done.
5. **Tests**: through ``open_store(url=any_store_url)`` (``tests/conftest.py``: a SQLite file,
   then a fresh PostgreSQL schema, skipped locally without ``$TETHER_TEST_PG_URL``), and races
   with real processes, each a home configured for the shared store
   (``tests/orchestrate/test_automations_processes.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "STORE_URL_ENV",
    "RuleStats",
    "Store",
    "configured_store_url",
    "open_store",
    "open_store_or_local",
    "store_url",
]


@dataclass(frozen=True)
class RuleStats:
    """How a rule has fared: times tried (``hits``), verified fixes, failures, last use (UTC ISO)."""

    rule: str
    hits: int
    successes: int
    failures: int
    last_outcome: str | None
    last_used_utc: str | None


class Store(Protocol):
    """The records tether keeps across runs and processes."""

    def record_outcome(self, rule: str, outcome: str) -> None:
        """Count one application of ``rule`` with ``outcome`` ``"success"`` or ``"failure"``."""
        ...

    def rule_stats(self) -> list[RuleStats]:
        """Statistics of every rule ever applied, most used first."""
        ...

    def get_many(self, paths: Iterable[str]) -> dict[str, tuple[int, int, list[dict[str, Any]]]]:
        """Cached parsed rule files by key (``tether.rules.load.cache_key(path)``); the data is
        opaque, written only by ``tether.rules.load.load_dir``."""
        ...

    def put_many(self, rows: Iterable[tuple[str, int, int, list[dict[str, Any]]]]) -> None:
        """Cache parsed rule files (keys and data as :meth:`get_many` returns them)."""
        ...

    def prune_rule_cache(self, folders: Iterable[str], keep: Iterable[str]) -> int:
        """Drop the cached rows of files directly in one of ``folders`` whose key is not in
        ``keep`` (deleted or renamed rule files); returns how many rows went."""
        ...

    def save_regulator_state(
        self, user_id: str, state_json: str, *, expected_version: int | None = None
    ) -> bool:
        """Keep ``user_id``'s learned regulator state (a JSON document), replacing the last one.

        Optimistic versions: ``expected_version=None`` replaces whatever is saved; an int
        (from :meth:`load_regulator_state_versioned`; ``0`` when nothing was saved) replaces
        it only if no other writer saved since. Each save adds 1 to the version. Returns
        False, changing nothing, when another writer got there first."""
        ...

    def load_regulator_state(self, user_id: str) -> str | None:
        """The learned regulator state saved for ``user_id``, or ``None``."""
        ...

    def load_regulator_state_versioned(self, user_id: str) -> tuple[str, int] | None:
        """The saved regulator state of ``user_id`` and its version (1 and up), or ``None``."""
        ...

    def add_approval(
        self,
        token: str,
        state_path: str,
        request: dict[str, Any],
        created_s: float,
        expires_s: float,
    ) -> None:
        """Record a pending approval ``token`` for the run saved at ``state_path``; ``request`` is
        a JSON-able dict; times are Unix seconds."""
        ...

    def get_approval(self, token: str) -> dict[str, Any] | None:
        """The approval for ``token`` (keys ``token``, ``state_path``, ``request``, ``status``,
        ``created_s``, ``expires_s``, ``decided_s``, ``note``), or ``None`` when unknown."""
        ...

    def pending_approvals(self) -> list[dict[str, Any]]:
        """Every approval still pending (as :meth:`get_approval` gives them), oldest first."""
        ...

    def set_approval_status(
        self,
        token: str,
        status: str,
        *,
        when: tuple[str, ...] = ("pending",),
        note: str = "",
        now_s: float,
    ) -> bool:
        """Move ``token`` to ``status`` (decide or expire it) only if its status is one of
        ``when``; True if it moved. Single use: check and change are one step, so of two
        deciders exactly one wins."""
        ...

    def open(self) -> None:
        """Connect now rather than on first use; raises ``StoreError`` when it cannot."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...

    # -- automations (SQL in tether.store.automation_slots) ---------------------------------------

    def claim_slots(self, rows: Iterable[tuple[str, float, str, str, str, float]]) -> list[bool]:
        """Record ``(automation, slot_unix_s, status, reason, owner, now_unix_s)`` rows where the
        slot has no row yet, in one transaction; per row, whether this call recorded it (the
        claim: of several schedulers exactly one wins a slot)."""
        ...

    def update_slot(
        self,
        automation: str,
        slot_s: float,
        *,
        status: str,
        when: tuple[str, ...],
        fields: dict[str, Any],
    ) -> bool:
        """Set a slot's ``status`` (and ``fields``: ``reason``, ``run_id``, ``owner``,
        ``started_unix_s``, ``finished_unix_s``, ``input_tokens``, ``output_tokens``,
        ``cost_usd``) if its status is one of ``when``; True if it changed."""
        ...

    def slot_rows(
        self, automation: str, *, statuses: tuple[str, ...] = (), limit: int | None = None
    ) -> list[dict[str, Any]]:
        """An automation's slot rows (dicts keyed by column), newest slot first."""
        ...

    def last_slot(self, automation: str) -> float | None:
        """The newest recorded slot of ``automation`` (Unix seconds), or ``None``."""
        ...

    def slot_usage(self, automation: str, since_s: float) -> tuple[int, float]:
        """(tokens, USD) spent by the automation's runs of slots at or after ``since_s``."""
        ...

    # -- inbox (SQL in tether.store.inbox) --------------------------------------------------------

    def inbox_put(
        self, key: str, title: str, detail: str, run_id: str | None, now_s: float
    ) -> dict[str, Any]:
        """Add one occurrence of dedupe ``key`` (create or count again); returns the item as
        a dict (``id``, ``key``, ``title``, ``detail``, ``status``, ``count``,
        ``first_seen_unix_s``, ``last_seen_unix_s``, ``status_changed_unix_s``, ``run_ids``)."""
        ...

    def inbox_items(self, statuses: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Inbox items (as :meth:`inbox_put` returns them), most recently seen first."""
        ...

    def inbox_get(self, ref: str | int) -> dict[str, Any] | None:
        """The item with id or dedupe key ``ref``, or ``None``."""
        ...

    def inbox_set_status(self, item_id: int, status: str, now_s: float) -> bool:
        """Move an item to ``open``/``acked``/``resolved``/``dismissed``; False if unknown."""
        ...

    # -- agent task memory (SQL in tether.store.tasks) --------------------------------------------

    def record_task_run(self, run: dict[str, Any], title: str) -> None:
        """Append one agent run (``task_runs`` columns) and update its task, atomically."""
        ...

    def list_tasks(self, task_key: str | None = None) -> list[dict[str, Any]]:
        """Every task (or ``task_key``'s), most recently run first."""
        ...

    def list_task_runs(self, task_key: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest ``limit`` runs of ``task_key``, newest first."""
        ...

    def delete_tasks(self, task_key: str | None = None) -> int:
        """Forget every task (or ``task_key``) and its runs; returns how many tasks went."""
        ...


STORE_URL_ENV = "TETHER_STORE_URL"
"""The environment variable that selects the store (over ``config.yaml``'s ``store:``)."""


def store_url(home: str | os.PathLike[str] | None = None) -> str:
    """The URL of the home's own SQLite store (``home`` resolved as
    :func:`tether.home.resolve_home` does): ``sqlite:///<absolute home>/tether.db``.
    Backend-neutral: :func:`open_store` reads it. A configured shared store is
    :func:`configured_store_url`."""
    from tether.home import resolve_home

    return "sqlite://" + str((resolve_home(home) / "tether.db").absolute())


def configured_store_url(home: str | os.PathLike[str] | None = None) -> tuple[str, str] | None:
    """The store chosen for ``home`` and where it was chosen, or ``None`` for the home's file.

    ``$TETHER_STORE_URL`` wins over ``<home>/config.yaml``'s ``store:`` key (a broken
    config file counts as none: :func:`tether.config.read_config` reports it elsewhere).

    Returns:
        ``(url, source)``; ``source`` is ``"TETHER_STORE_URL"`` or the config file's path.
    """
    from_env = os.environ.get(STORE_URL_ENV, "").strip()
    if from_env:
        return from_env, STORE_URL_ENV
    from tether.home import resolve_home

    config_file = resolve_home(home) / "config.yaml"
    if not config_file.is_file():
        return None
    from tether.config import read_config

    url = (read_config(config_file.parent).config.store or "").strip()
    return (url, f"{config_file}: field 'store'") if url else None


def open_store(home: str | os.PathLike[str] | None = None, *, url: str | None = None) -> Store:
    """Open the store: the one place that chooses and constructs a backend.

    Args:
        home: the tether home; ``None`` resolves it as :func:`tether.home.resolve_home`
            does. Without ``url`` the store is the one configured for it
            (:func:`configured_store_url`), else ``<home>/tether.db``. A PostgreSQL store
            opened for a home keeps its rule cache in that home's file.
        url: ``sqlite:///abs/path.db`` or ``postgresql://user:pass@host:port/db``
            (``postgres://`` too; needs ``tether[fleet]``); a plain file path (what older
            pending approvals recorded) also opens as SQLite. A PostgreSQL store opened by
            URL alone has no rule cache (rules are parsed each time).

    Nothing is connected yet: call ``open()`` to find out now whether the store is
    reachable (or use :func:`open_store_or_local`).

    Raises:
        ConfigError: the URL has a scheme no backend speaks (the message names it and
            where it came from).
    """
    from tether.store.sqlite import SQLiteStore

    source = "store url"
    local: SQLiteStore | None = None
    if url is None:
        own = SQLiteStore(Path(store_url(home).removeprefix("sqlite://")))
        chosen = configured_store_url(home)
        if chosen is None:
            return own
        url, source = chosen
        local = own
    scheme, sep, rest = url.partition("://")
    if not sep:
        return SQLiteStore(Path(url))
    if scheme == "sqlite":
        return SQLiteStore(Path(rest))
    from tether.store.postgres import PostgresStore, mask_url

    if scheme in ("postgresql", "postgres"):
        return PostgresStore(url, rule_cache=local)
    from tether.errors import ConfigError

    raise ConfigError(
        f"{source} {mask_url(url)!r}: unknown scheme {scheme!r} "
        "(tether speaks sqlite:// and postgresql://)"
    )


def open_store_or_local(
    home: str | os.PathLike[str] | None, *, warn: Callable[[str], None]
) -> Store:
    """The store configured for ``home``, connected now; the home's own file when it cannot be.

    What ``tether run`` uses: a shared store that is unreachable at start (or a
    configured URL no backend speaks) must not fail the job, so the run records in
    ``<home>/tether.db`` instead and ``warn`` is called once with the reason (the
    URL's password masked). The home's SQLite store itself is returned unopened,
    as before (it opens on first use).

    Args:
        home: the tether home (``None``: resolved as :func:`tether.home.resolve_home` does).
        warn: called with one message when falling back.
    """
    from tether.errors import ConfigError, StoreError
    from tether.store.sqlite import SQLiteStore

    own_path = Path(store_url(home).removeprefix("sqlite://"))
    try:
        store = open_store(home)
        if isinstance(store, SQLiteStore):
            return store
        store.open()
    except (ConfigError, StoreError) as exc:
        warn(f"{exc}; recording in {own_path} instead")
        return SQLiteStore(own_path)
    return store
