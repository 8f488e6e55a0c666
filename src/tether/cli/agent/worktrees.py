"""``tether agent worktrees list|diff|merge|discard``: the worktrees runs kept because they
hold work (uncommitted changes or commits), a client of :class:`tether.orchestrate.Worktree`.

The home is found as for every command (``--home``, ``$TETHER_HOME``, the nearest
``.tether/``). A tree is named by its id or a unique prefix of it. Bad input (an unknown id,
a tree or checkout with uncommitted changes where that matters) exits 2 with the reason;
nothing is deleted that holds work unless ``discard --force`` says so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from tether.orchestrate import Worktree

__all__ = ["register"]

app = typer.Typer(
    name="worktrees",
    help="Worktrees kept by runs that left work in them: list, diff, merge, discard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_HOME = typer.Option(
    None,
    "--home",
    "-d",
    metavar="DIR",
    help="tether home (default: $TETHER_HOME, else the nearest .tether/ here or above).",
)
_ID = typer.Argument(..., metavar="ID", help="The worktree's id (or a unique prefix of it).")


def register(root: typer.Typer) -> None:
    """Add the ``worktrees`` group to the ``tether agent`` group."""
    root.add_typer(app, name="worktrees")


def _manager(home: Path | None) -> Worktree:
    from tether.home import resolve_home
    from tether.orchestrate import Worktree

    return Worktree(resolve_home(home))


def _fail(exc: Exception) -> NoReturn:
    typer.echo(f"tether: error: {exc}", err=True)
    raise typer.Exit(2)


@app.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", help="Include removed, merged and discarded ones."),
    as_json: bool = typer.Option(False, "--json", help="One JSON array of records."),
    home: Path | None = _HOME,
) -> None:
    """List the worktrees runs kept (and those still in use)."""
    records = _manager(home).list(all=all_)
    if as_json:
        typer.echo(json.dumps([r.to_json() for r in records], indent=2))
        return
    if not records:
        typer.echo("no kept worktrees")
        return
    for r in records:
        what = r.reason or "clean"
        typer.echo(
            f"{r.id}  {r.status:<9}  {r.branch}  from {r.base} ({r.base_sha[:12]})  "
            f"{what}  {r.path}"
        )


@app.command()
def diff(ident: str = _ID, home: Path | None = _HOME) -> None:
    """Show a worktree's changes against its base (commits and uncommitted edits)."""
    from tether.orchestrate import WorktreeError

    trees = _manager(home)
    try:
        typer.echo(trees.diff(trees.get(ident)), nl=False)
    except WorktreeError as exc:
        _fail(exc)


@app.command()
def merge(ident: str = _ID, home: Path | None = _HOME) -> None:
    """Merge a worktree's commits into the repository's checked-out branch, then remove it."""
    from tether.orchestrate import WorktreeError

    trees = _manager(home)
    try:
        record = trees.merge(trees.get(ident))
    except WorktreeError as exc:
        _fail(exc)
    typer.echo(f"tether: merged {record.id} into {record.repo}; worktree removed")


@app.command()
def discard(
    ident: str = _ID,
    force: bool = typer.Option(
        False, "--force", help="Throw away what it holds (unmerged commits, uncommitted changes)."
    ),
    home: Path | None = _HOME,
) -> None:
    """Remove a worktree and its branch (refused while it holds work, unless --force)."""
    from tether.orchestrate import WorktreeError

    trees = _manager(home)
    try:
        record = trees.discard(trees.get(ident), force=force)
    except WorktreeError as exc:
        _fail(exc)
    typer.echo(f"tether: discarded {record.id} ({record.path})")
