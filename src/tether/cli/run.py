"""``tether run -- CMD...``: run a command, recover it on failure, exit with its final code."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from tether.cli.display import Display

__all__ = ["register"]


def _pairs(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {item!r}", param_hint="--context")
        out[key] = value
    return out


def run(
    command: list[str] = typer.Argument(..., help="The command to run, after --."),
    home: Path | None = typer.Option(
        None, "--home", "-d", help="tether home (default: $TETHER_HOME or ./.tether)."
    ),
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="Named profile from config.yaml."
    ),
    plugin: Path | None = typer.Option(
        None, "--plugin", help="Python file with tools and setup/teardown hooks."
    ),
    context: list[str] = typer.Option(
        [], "--context", "-C", help="Extra key=value added to the failure context."
    ),
    tail: int | None = typer.Option(
        None, "--tail", min=1, help="Match only the last N lines of stdout/stderr."
    ),
    max_retries: int | None = typer.Option(
        None, "--max-retries", min=0, help="Rules tried per error."
    ),
    max_depth: int | None = typer.Option(
        None, "--max-depth", min=1, help="Cascading errors chased."
    ),
    explore: bool = typer.Option(
        False,
        "--explore",
        help="Let the configured model explore failures no rule fixes (engine.llm).",
    ),
    hint: str | None = typer.Option(None, "--hint", help="A hint for exploration."),
    allow_escalation: bool = typer.Option(
        False, "--allow-escalation", help="Hand a failed exploration over to the secondary model."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing of tether's own."),
) -> None:
    """Run COMMAND; when it fails, fix it with matching rules and run it again.

    With --explore, a failure no rule fixes goes to the configured model, which proposes
    a rule (and action); it is kept only if the re-run passes. Exits with the command's
    final exit code.
    """
    from tether.engine import Tether

    extra = _pairs(context)
    display = Display(quiet)
    engine = Tether(home=home, on_event=display)
    chosen = engine.config.profile(profile) if profile else None
    plugin_path = plugin or (Path(chosen.plugin) if chosen and chosen.plugin else None)
    hooks = None
    if plugin_path is not None:
        from tether.cli.plugin import load_plugin

        hooks = load_plugin(plugin_path)

    def pick(flag: Any, name: str) -> Any:
        return flag if flag is not None else getattr(chosen, name, None) if chosen else None

    settings = engine.settings(
        max_retries=pick(max_retries, "max_retries"),
        max_depth=pick(max_depth, "max_depth"),
        rules=pick(None, "rules"),
        tags=pick(None, "tags"),
        collection=pick(None, "collection"),
        fallback=pick(None, "fallback"),
        setup=hooks.setup if hooks else None,
        teardown=hooks.teardown if hooks else None,
    )
    settings.explore = bool(explore or (chosen is not None and chosen.explore))
    settings.allow_escalation = bool(allow_escalation or pick(None, "allow_escalation"))
    settings.hint = hint or pick(None, "hint")
    result, outcome = engine.run_command(
        command, cwd=os.getcwd(), context=extra, settings=settings, tail_lines=tail
    )
    if outcome is None and result.exit_code != 0:
        display.say("[bold red]tether ✗[/] recovery did not run")
    sys.stdout.flush()
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``explore`` to ``app``."""
    from tether.cli import explore

    app.command(
        context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True}
    )(run)
    explore.register(app)
