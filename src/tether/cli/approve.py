"""``tether approve TOKEN``, ``tether deny TOKEN`` and ``tether approvals``.

A headless governed run that reaches a gated action pauses with a token
recorded in ``<home>/tether.db``; these commands decide it from any shell.
The run itself continues when its owner resumes it (``Loop.resume(path)``):
a decision is a record, not a remote control.

The home is found as for every command (``--home``, ``$TETHER_HOME``, the
nearest ``.tether/`` here or above). None of these commands creates one:
``approvals`` with no home (or no records) says so and exits 0; ``approve`` and
``deny`` of a token where there is no record of any fail with exit code 4.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tether.cli.options import HomeOption

if TYPE_CHECKING:
    from tether.store import Store

__all__ = ["register"]

_NOTE = typer.Option("", "--note", metavar="TEXT", help="Why (kept with the decision).")
_TOKEN = typer.Argument(..., metavar="TOKEN", help="The token printed by the paused run.")


def _store(home: Path | None) -> Store | None:
    """The home's store if it has records (nothing is created), else ``None``."""
    from tether.config import existing_home
    from tether.store import open_store

    found = existing_home(home)
    if found is None or not (found / "tether.db").exists():
        return None
    return open_store(found)


def _decide(token: str, approved: bool, note: str, home: Path | None) -> None:
    from tether.errors import ConfigError
    from tether.loop.approval import decide_in

    store = _store(home)
    if store is None:
        from tether.config import resolve_home

        raise ConfigError(
            f"no records at {resolve_home(home)} (no home here, or no run has "
            f"paused in it), so no token {token!r} to decide"
        )
    try:
        row = decide_in(store, token, approved, note=note, now_s=time.time())
    finally:
        store.close()
    verb = "approved" if approved else "denied"
    typer.echo(f"tether: {token} {verb}; resume the run from {row['state_path']} to continue")


def approve(token: str = _TOKEN, note: str = _NOTE, home: Path | None = HomeOption) -> None:
    """Approve a paused run's pending action."""
    _decide(token, True, note, home)


def deny(token: str = _TOKEN, note: str = _NOTE, home: Path | None = HomeOption) -> None:
    """Deny a paused run's pending action."""
    _decide(token, False, note, home)


def approvals(home: Path | None = HomeOption) -> None:
    """List pending approval requests: token, action, expiry, state file."""
    from tether.config import existing_home

    if existing_home(home) is None:
        typer.echo("tether: no home here (run tether init)", err=True)
        typer.echo("no pending approvals")
        return
    store = _store(home)
    if store is None:
        typer.echo("no pending approvals")
        return
    try:
        rows = store.pending_approvals()
    finally:
        store.close()
    if not rows:
        typer.echo("no pending approvals")
    for row in rows:
        expires = dt.datetime.fromtimestamp(row["expires_s"], dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        for request in row["request"].get("requests", []):
            args = json.dumps(request.get("arguments", {}), default=str)[:120]
            typer.echo(
                f"{row['token']}  {request['tool']} {args}  expires {expires}  ({row['state_path']})"
            )


def register(app: typer.Typer) -> None:
    """Add the approval commands to ``app``."""
    app.command()(approve)
    app.command()(deny)
    app.command()(approvals)
