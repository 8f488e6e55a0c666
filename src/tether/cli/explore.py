"""``tether explore CONTEXT.json``: let the model propose a rule for a recorded failure.

The file holds the failure's context: a JSON object of strings and numbers
(``command``, ``exit_code``, ``stderr`` ...), or ``{"context": {...}}``. The
proposed rule is validated like any exploration's, but nothing runs, so it
cannot be verified: it is printed (with its action code) for review, and
written under the home only with ``--save``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from tether.cli.options import EscalationOption, HintOption, HomeOption, quiet_option

__all__ = ["explore", "register"]


def _context(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise typer.BadParameter(
            f"{path}: cannot read ({exc.strerror})", param_hint="CONTEXT"
        ) from None
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{path}: not JSON ({exc})", param_hint="CONTEXT") from None
    if isinstance(data, dict) and isinstance(data.get("context"), dict):
        data = data["context"]
    if not isinstance(data, dict) or not data:
        raise typer.BadParameter(
            f"{path}: expected a JSON object of context facts (stderr, exit_code ...)",
            param_hint="CONTEXT",
        )
    bad = [k for k, v in data.items() if isinstance(v, dict | list)]
    if bad:
        raise typer.BadParameter(
            f"{path}: context values must be text or numbers; {', '.join(bad)} are not",
            param_hint="CONTEXT",
        )
    return data


def explore(
    context_file: Path = typer.Argument(..., metavar="CONTEXT.json", help="The failure's context."),
    home: Path | None = HomeOption,
    hint: str | None = HintOption,
    allow_escalation: bool = EscalationOption,
    collection: str | None = typer.Option(None, "--collection", help="Collection of the rule."),
    save: bool = typer.Option(
        False, "--save", help="Write the (unverified) rule and action under the home."
    ),
    quiet: bool = quiet_option("Print only the rule."),
) -> None:
    """Explore a recorded failure and print the rule the model proposes (exit 1: none)."""
    from tether.cli.display import Display
    from tether.engine import Tether

    facts = _context(context_file)
    display = Display(quiet)
    ended: dict[str, Any] = {}

    def on_event(event: Any) -> None:
        if event.kind == "explore_end":
            ended.update(event.data)
        display(event)

    engine = Tether(home=home, on_event=on_event)
    rule = engine.explore(
        facts, collection=collection, hint=hint, allow_escalation=allow_escalation or None
    )
    if rule is None:
        display.say(
            f"[bold red]tether ✗ no rule:[/] {ended.get('reason', 'the exploration ended')}"
        )
        raise typer.Exit(1)
    typer.echo(rule.to_yaml(), nl=False)
    if ended.get("action_code"):
        typer.echo("---  # action code")
        typer.echo(ended["action_code"], nl=False)
    if save:
        engine.promote(rule)
        display.say(f"[bold cyan]tether ▸[/] saved rule {rule.name} (unverified: review it)")
    else:
        display.say(
            f"[bold cyan]tether ▸[/] rule {rule.name} is valid but unverified; re-run with --save "
            "to keep it, or let `tether run --explore` verify it on the real job"
        )


def register(app: typer.Typer) -> None:
    """Add ``explore`` to ``app``."""
    app.command(name="explore")(explore)
