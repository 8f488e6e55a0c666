"""``tether approve TOKEN``, ``tether deny TOKEN`` and ``tether approvals``.

A headless governed run that reaches a gated action pauses with a token
recorded in ``<home>/tether.db``; these commands decide it from any shell.
The run itself continues when its owner resumes it (``Loop.resume(path)``):
a decision is a record, not a remote control.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

__all__ = ["register"]

_HOME = typer.Option(None, "--home", "-d", help="tether home (default $TETHER_HOME or ./.tether).")


def _store(home: Path | None) -> Path:
    from tether.engine import resolve_home

    return resolve_home(home) / "tether.db"


def _decide(token: str, approved: bool, note: str, home: Path | None) -> None:
    from tether.loop.approval import decide

    row = decide(_store(home), token, approved, note=note)
    verb = "approved" if approved else "denied"
    typer.echo(f"tether: {token} {verb}; resume the run from {row['state_path']} to continue")


def approve(
    token: str = typer.Argument(..., help="The token printed by the paused run."),
    note: str = typer.Option("", "--note", help="Why (kept with the decision)."),
    home: Path | None = _HOME,
) -> None:
    """Approve a paused run's pending action."""
    _decide(token, True, note, home)


def deny(
    token: str = typer.Argument(..., help="The token printed by the paused run."),
    note: str = typer.Option("", "--note", help="Why (kept with the decision)."),
    home: Path | None = _HOME,
) -> None:
    """Deny a paused run's pending action."""
    _decide(token, False, note, home)


def approvals(home: Path | None = _HOME) -> None:
    """List pending approval requests: token, action, expiry, state file."""
    from tether.store.sqlite import SQLiteStore

    path = _store(home)
    if not path.exists():
        typer.echo("no pending approvals")
        return
    store = SQLiteStore(path)
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
