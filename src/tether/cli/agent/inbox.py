"""``tether agent inbox list|show|ack|resolve|dismiss``: what needs a person's attention.

``list [--status S] [--json]``: items, most recently seen first (default: open and acked).
``show REF [--json]``: one item by id or dedupe key, with its run ids.
``ack|resolve|dismiss REF [--json]``: move it along its lifecycle.
``--json`` prints ``{"items": [I]}`` (list) or ``I`` (the others), ``I`` being
``{"id", "key", "title", "detail", "status", "count", "first_seen_s", "last_seen_s",
"status_changed_s", "run_ids": [str]}``. An unknown item exits 2.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from tether.cli.rules import HomeOption

__all__ = ["register"]

inbox_app = typer.Typer(
    help="Items that need attention: failed automations, kept worktrees ...",
    no_args_is_help=True,
    rich_markup_mode=None,
)

JsonOption = typer.Option(False, "--json", help="JSON on stdout.")


def register(app: typer.Typer) -> None:
    """Add ``inbox`` to the ``tether agent`` group."""
    app.add_typer(inbox_app, name="inbox")


def _inbox(home: Path | None) -> Any:
    from tether.home import resolve_home
    from tether.orchestrate import Inbox
    from tether.store import open_store

    return Inbox(open_store(resolve_home(home)))


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _line(item: Any) -> str:
    return f"#{item.id} [{item.status}] ×{item.count}  {item.title}  ({item.key}, last {_when(item.last_seen_s)})"


@inbox_app.command("list")
def list_cmd(
    status: list[str] = typer.Option(
        [], "--status", help="open, acked, resolved, dismissed (repeatable; default open+acked)."
    ),
    show_all: bool = typer.Option(False, "--all", help="Every status."),
    as_json: bool = JsonOption,
    home: Path | None = HomeOption,
) -> None:
    """Items, most recently seen first."""
    from tether.orchestrate.inbox import STATUSES

    for s in status:
        if s not in STATUSES:
            print(
                f"tether: error: --status: {s!r}; use one of {', '.join(STATUSES)}", file=sys.stderr
            )
            raise typer.Exit(2)
    wanted: tuple[Any, ...] | None = None if show_all else tuple(status) or ("open", "acked")
    items = _inbox(home).list(status=wanted)
    if as_json:
        print(json.dumps({"items": [i.to_json() for i in items]}))
        return
    if not items:
        print("inbox: nothing here")
    for item in items:
        print(_line(item))


def _one(ref: str, home: Path | None, action: str | None, as_json: bool) -> None:
    from tether.orchestrate import OrchestrationError

    inbox = _inbox(home)
    try:
        item = inbox.get(ref) if action is None else getattr(inbox, action)(ref)
    except OrchestrationError as exc:
        print(f"tether: error: REF: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(item.to_json()))
        return
    print(_line(item))
    if action is None:
        print(f"first seen {_when(item.first_seen_s)}; runs: {', '.join(item.run_ids) or '-'}")
        if item.detail:
            print(item.detail)


@inbox_app.command("show")
def show_cmd(
    ref: str = typer.Argument(..., help="Item id or dedupe key."),
    as_json: bool = JsonOption,
    home: Path | None = HomeOption,
) -> None:
    """One item, with its detail and run ids."""
    _one(ref, home, None, as_json)


@inbox_app.command("ack")
def ack_cmd(
    ref: str = typer.Argument(..., help="Item id or dedupe key."),
    as_json: bool = JsonOption,
    home: Path | None = HomeOption,
) -> None:
    """Mark an item seen and being handled."""
    _one(ref, home, "ack", as_json)


@inbox_app.command("resolve")
def resolve_cmd(
    ref: str = typer.Argument(..., help="Item id or dedupe key."),
    as_json: bool = JsonOption,
    home: Path | None = HomeOption,
) -> None:
    """Mark an item fixed (it opens again if it occurs again)."""
    _one(ref, home, "resolve", as_json)


@inbox_app.command("dismiss")
def dismiss_cmd(
    ref: str = typer.Argument(..., help="Item id or dedupe key."),
    as_json: bool = JsonOption,
    home: Path | None = HomeOption,
) -> None:
    """Mark an item not worth attention (later occurrences only count)."""
    _one(ref, home, "dismiss", as_json)
