"""``tether rules list | show NAME | lint | test CONTEXT.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

__all__ = ["app"]

app = typer.Typer(help="Inspect, check and try rules.", no_args_is_help=True, rich_markup_mode=None)

HomeOption = typer.Option(
    None, "--home", "-d", help="tether home (default: $TETHER_HOME or ./.tether)."
)


def _engine(home: Path | None, **kwargs: Any) -> Any:
    from tether.engine import Tether

    return Tether(home=home, **kwargs)


def _console() -> Any:
    from tether.cli import console

    return console()


@app.command("list")
def list_rules(home: Path | None = HomeOption) -> None:
    """List every rule in force: name, collection, tags, where it comes from."""
    from rich.table import Table

    engine = _engine(home)
    table = Table("rule", "collection", "tags", "source", "description", box=None)
    for rule in engine.book:
        source = str(rule.source.name) if rule.source else "-"
        if rule.source and "starter" in rule.source.parts:
            source = "starter pack"
        table.add_row(rule.name, rule.collection, ", ".join(rule.tags), source, rule.description)
    _console().print(table)


@app.command("show")
def show(name: str, home: Path | None = HomeOption) -> None:
    """Print one rule as YAML, with where it was loaded from."""
    engine = _engine(home)
    rule = engine.book.get(name)
    if rule is None:
        from tether.errors import RuleError

        raise RuleError(f"no rule named {name!r} (see `tether rules list`)")
    typer.echo(f"# {rule.source}" if rule.source else "# (in memory)")
    typer.echo(rule.to_yaml(), nl=False)


@app.command("lint")
def lint_rules(home: Path | None = HomeOption) -> None:
    """Load every rule and action file and check examples, placeholders and action names.

    Exits 1 when any error is found (warnings alone exit 0).
    """
    import warnings

    from tether.rules.lint import lint

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = _engine(home)
        book = engine.load()
    problems = [str(e) for e in engine.load_errors]
    findings = lint(book, engine.actions.names())
    errors = problems + [str(p) for p in findings if p.severity == "error"]
    for text in errors:
        typer.echo(f"error: {text}", err=True)
    for p in findings:
        if p.severity == "warning":
            typer.echo(f"warning: {p}", err=True)
    typer.echo(f"{len(book)} rules checked: {len(errors)} error(s), "
               f"{sum(p.severity == 'warning' for p in findings)} warning(s)")  # fmt: skip
    raise typer.Exit(1 if errors else 0)


@app.command("test")
def test_rules(
    context_file: Path = typer.Argument(..., help="A JSON object: the failure context."),
    home: Path | None = HomeOption,
    near: int = typer.Option(3, "--near", help="How many near misses to show."),
) -> None:
    """Show which rules fire for a context and why (captures), and the nearest misses."""
    from rich.markup import escape

    from tether.errors import ConfigError
    from tether.rules.match import match_fact, prepare

    try:
        context = json.loads(context_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{context_file}: cannot read a JSON context ({exc})") from None
    if not isinstance(context, dict):
        raise ConfigError(f"{context_file}: expected a JSON object of context facts")
    engine = _engine(home)
    console = _console()
    matches = engine.resolver.resolve(context, collection=None)
    if not matches:
        console.print("no rule fires for this context")
    for i, m in enumerate(matches, 1):
        caps = ", ".join(f"{k}={v!r}" for k, v in m.captures.items()) or "no captures"
        console.print(f"{i}. [bold]{escape(m.rule.name)}[/] fires ({escape(caps)})")
        for step in m.rule.then:
            console.print(f"     then {escape(step.action)} {escape(json.dumps(step.params))}")
    prepared = prepare(context)
    for miss in engine.near_misses(context, k=near):
        console.print(f"near miss: [bold]{escape(miss.rule.name)}[/] (score {miss.score})")
        for fact in miss.rule.when:
            ok = match_fact(fact, prepared.get(fact.fact)) is not None
            what = fact.equals or fact.contains or fact.regex or ""
            console.print(f"     {'✓' if ok else '✗'} {fact.fact} {fact.matcher} {escape(what)!r}")
