"""``tether rules list | show NAME | lint | test CONTEXT.json``.

These commands only read: they never create a home. Where no home is found
(``--home``, ``$TETHER_HOME``, the nearest ``.tether/`` here or above; see
:mod:`tether.config`) they say "no home here (run tether init)" on stderr and
work on the starter pack alone.

``--json`` output (stdout, one object; keys are stable):

- ``rules list --json``: ``{"home": str|null, "rules": [{"name", "description",
  "collection", "tags": [str], "source": "home"|"starter"|"memory", "file": str|null,
  "actions": [str]}]}``.
- ``rules lint --json``: ``{"home", "rules_checked": int, "errors": [P], "warnings": [P]}``,
  each ``P`` being ``{"severity", "file", "rule", "field", "message"}`` (``rule`` is
  null for an action file).
- ``rules test --json``: ``{"home", "context_file", "fires": bool, "fired": [F],
  "near_misses": [N]}``. ``F``: ``{"rank": int, "rule", "file", "captures": {str: str},
  "facts": [C], "steps": [{"action", "params": {...} (filled), "error": str|null}]}``.
  ``N``: ``{"rule", "file", "similarity": float, "facts": [C], "failed": [int]}``
  (indices into ``facts``). ``C``: ``{"fact", "matcher": "equals"|"contains"|"regex",
  "value": str (as written), "holds": bool, "captures": {str: str}}``.

``rules test`` exits 1 when no rule fires, ``rules lint`` when it finds an error.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from tether.cli.options import HomeOption, JsonOption

__all__ = ["HomeOption", "app", "engine_for"]

app = typer.Typer(help="Inspect, check and try rules.", no_args_is_help=True, rich_markup_mode=None)


NO_HOME = "no home here (run tether init)"


@contextlib.contextmanager
def engine_for(
    home: Path | None, *, strict_config: bool = False
) -> Iterator[tuple[Any, Path | None]]:
    """An engine on the home found for ``home``, and that home (``None``: no home here).

    Without a home, the engine reads the starter pack only, from a scratch
    directory that is removed afterwards: nothing is created where the user is.
    A broken ``config.yaml`` is warned about and the defaults used, unless
    ``strict_config``.

    Args:
        home: ``--home`` (``None``: ``$TETHER_HOME``, else the walk up from the cwd).
        strict_config: raise :class:`~tether.errors.ConfigError` for a broken config.yaml
            when the engine first reads it.

    Yields:
        ``(engine, home)``; the engine is closed on exit.
    """
    import tempfile

    from tether.config import existing_home
    from tether.engine import Tether

    found = existing_home(home)
    if found is not None:
        engine = Tether(home=found, strict_config=strict_config)
        try:
            yield engine, found
        finally:
            engine.close()
        return
    typer.echo(f"tether: {NO_HOME}; the starter pack only", err=True)
    with tempfile.TemporaryDirectory(prefix="tether-nohome-") as scratch:
        engine = Tether(home=scratch)
        try:
            yield engine, None
        finally:
            engine.close()


def _console() -> Any:
    from tether.cli import console

    return console()


def _source(rule: Any) -> str:
    if rule.source is None:
        return "memory"
    return "starter" if "starter" in rule.source.parts else "home"


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@app.command("list")
def list_rules(home: Path | None = HomeOption, as_json: bool = JsonOption) -> None:
    """List every rule in force: name, collection, tags, where it comes from."""
    with engine_for(home) as (engine, found):
        rules = list(engine.book)
    if as_json:
        _echo_json(
            {
                "home": str(found) if found else None,
                "rules": [
                    {
                        "name": r.name,
                        "description": r.description,
                        "collection": r.collection,
                        "tags": list(r.tags),
                        "source": _source(r),
                        "file": str(r.source) if r.source else None,
                        "actions": [s.action for s in r.then],
                    }
                    for r in rules
                ],
            }
        )
        return
    from rich.table import Table

    table = Table("rule", "collection", "tags", "source", "description", box=None)
    for rule in rules:
        where = {"starter": "starter pack", "memory": "-"}.get(_source(rule))
        source = where or (rule.source.name if rule.source else "-")
        table.add_row(rule.name, rule.collection, ", ".join(rule.tags), source, rule.description)
    _console().print(table)


@app.command("show")
def show(
    name: str = typer.Argument(..., metavar="NAME", help="The rule's name."),
    home: Path | None = HomeOption,
) -> None:
    """Print one rule as YAML, with where it was loaded from."""
    with engine_for(home) as (engine, _found):
        rule = engine.book.get(name)
    if rule is None:
        from tether.errors import RuleError

        raise RuleError(f"no rule named {name!r} (see `tether rules list`)")
    typer.echo(f"# {rule.source}" if rule.source else "# (in memory)")
    typer.echo(rule.to_yaml(), nl=False)


@app.command("lint")
def lint_rules(home: Path | None = HomeOption, as_json: bool = JsonOption) -> None:
    """Check every rule and action file: examples, captures, placeholders, actions, params.

    Params are checked against each action's signature as a run fills them. Warns
    when a home action shadows a starter action and when a capture would run across
    lines. Exits 1 when any error is found (warnings alone exit 0).
    """
    import warnings

    from tether.actions.run import render_params
    from tether.errors import TetherError
    from tether.rules.lint import lint

    with warnings.catch_warnings(), engine_for(home, strict_config=True) as (engine, found):
        warnings.simplefilter("ignore")
        try:
            book = list(engine.load())
            load_errors: list[Exception] = list(engine.load_errors)
        except TetherError as exc:  # config.yaml itself: reported like any finding
            book, load_errors = [], [exc]
        findings = lint(book, engine.actions, render=render_params) + _shadowing(engine, book)
    errors = [p for p in findings if p.severity == "error"]
    notes = [p for p in findings if p.severity != "error"]
    if as_json:
        _echo_json(
            {
                "home": str(found) if found else None,
                "rules_checked": len(book),
                "errors": [_load_dict(e) for e in load_errors] + [p.as_dict() for p in errors],
                "warnings": [p.as_dict() for p in notes],
            }
        )
    else:
        for text in [str(e) for e in load_errors] + [str(p) for p in errors]:
            typer.echo(f"error: {text}", err=True)
        for p in notes:
            typer.echo(f"warning: {p}", err=True)
        count = len(load_errors) + len(errors)
        typer.echo(f"{len(book)} rules checked: {count} error(s), {len(notes)} warning(s)")
    raise typer.Exit(1 if load_errors or errors else 0)


def _load_dict(error: Exception) -> dict[str, Any]:
    """A load error (rule file, action file, config.yaml) with the same keys as a finding."""
    return {
        "severity": "error",
        "file": getattr(error, "file", None),
        "rule": getattr(error, "rule", None),
        "field": getattr(error, "field", None),
        "message": getattr(error, "problem", None) or str(error),
    }


def _shadowing(engine: Any, book: list[Any]) -> list[Any]:
    """Warnings for actions in ``<home>/actions`` that replace a starter action."""
    import inspect

    import tether.starter.actions  # noqa: F401  (registers the starter actions)
    from tether.actions import default_registry
    from tether.rules.lint import shadowing

    overrides: dict[str, str | None] = {}
    for spec in default_registry:
        if not spec.fn.__module__.startswith("tether.starter.actions"):
            continue
        mine = engine.actions.get(spec.name)
        if mine is not None and mine is not spec:
            try:
                overrides[spec.name] = inspect.getsourcefile(mine.fn)
            except TypeError:
                overrides[spec.name] = None
    users = {
        name: [r.name for r in book if any(s.action == name for s in r.then)] for name in overrides
    }
    return shadowing(overrides, users)


@app.command("test")
def test_rules(
    context_file: Path = typer.Argument(
        ...,
        metavar="CONTEXT.json",
        help="The failure context: a JSON object (from --save-context, or an observation line).",
    ),
    home: Path | None = HomeOption,
    near: int = typer.Option(3, "--near", metavar="N", min=0, help="How many near misses to show."),
    as_json: bool = JsonOption,
) -> None:
    """Show which rules fire for a context, why (facts, captures), and the steps they would run.

    Steps are shown with their params filled as a run would fill them; near misses show
    which fact failed. Nothing is run. Exits 1 when no rule fires.
    """
    context = _read_context(context_file)
    with engine_for(home) as (engine, found):
        report = _explain(engine, context, near=near)
    fired = report["fired"]
    if as_json:
        _echo_json(
            {
                "home": str(found) if found else None,
                "context_file": str(context_file),
                "fires": bool(fired),
                **report,
            }
        )
    else:
        _print_report(report)
    raise typer.Exit(0 if fired else 1)


def _read_context(path: Path) -> dict[str, Any]:
    """The context in ``path``: a JSON object, or an observation record holding one."""
    from tether.errors import ConfigError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read a JSON context ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("context"), dict) and "outcome" in data:
        data = data["context"]  # a line of observations.jsonl
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of context facts")
    return data


def _fact(fact: Any, prepared: Any) -> dict[str, Any]:
    from tether.rules.match import match_fact

    got = match_fact(fact, prepared.get(fact.fact))
    value = fact.equals if fact.equals is not None else fact.contains or fact.regex or ""
    return {
        "fact": fact.fact,
        "matcher": fact.matcher,
        "value": value,
        "holds": got is not None,
        "captures": dict(got or {}),
    }


def _steps(engine: Any, rule: Any, captures: dict[str, str], context: dict[str, Any]) -> list[Any]:
    """Each step with its params filled and checked as a run would (nothing runs)."""
    from tether.actions.run import render_params
    from tether.errors import ActionError

    out = []
    for number, step in enumerate(rule.then, start=1):
        params: dict[str, Any] = dict(step.params)
        error = None
        try:
            params = render_params(
                step.params, captures, context, action=step.action, rule=rule.name, step=number
            )
            spec = engine.actions.get(step.action)
            if spec is None:
                error = f"no action named {step.action!r}"
            else:
                for name in spec.parameters():  # as the run does: captures, then context
                    if name not in params and (name in captures or name in context):
                        params[name] = captures.get(name, context.get(name))
                spec.check(params, rule=rule.name, step=number)
        except ActionError as exc:
            error = str(exc)
        out.append({"action": step.action, "params": params, "error": error})
    return out


def _explain(engine: Any, context: dict[str, Any], *, near: int) -> dict[str, Any]:
    """What fires for ``context`` and why, and the nearest misses (the ``--json`` keys)."""
    from tether.rules.match import prepare

    engine.load()
    prepared = prepare(context)
    fired = []
    for rank, m in enumerate(engine.resolver.resolve(context, collection=None), 1):
        fired.append(
            {
                "rank": rank,
                "rule": m.rule.name,
                "file": str(m.rule.source) if m.rule.source else None,
                "captures": dict(m.captures),
                "facts": [_fact(f, prepared) for f in m.rule.when],
                "steps": _steps(engine, m.rule, dict(m.captures), context),
            }
        )
    misses = []
    for miss in engine.near_misses(context, k=near) if near else []:
        facts = [_fact(f, prepared) for f in miss.rule.when]
        misses.append(
            {
                "rule": miss.rule.name,
                "file": str(miss.rule.source) if miss.rule.source else None,
                "similarity": round(float(miss.score), 3),
                "facts": facts,
                "failed": [i for i, f in enumerate(facts) if not f["holds"]],
            }
        )
    return {"fired": fired, "near_misses": misses}


def _fact_line(fact: dict[str, Any]) -> str:
    from rich.markup import escape

    mark = "[green]✓[/]" if fact["holds"] else "[red]✗[/]"
    caps = ", ".join(f"{k}={v!r}" for k, v in fact["captures"].items())
    value = fact["value"] if fact["matcher"] == "regex" else repr(fact["value"])
    line = f"     {mark} {escape(fact['fact'])} {fact['matcher']} {escape(value)}"
    return line + (f"  [dim]→[/] {escape(caps)}" if caps else "")


def _print_report(report: dict[str, Any]) -> None:
    from rich.markup import escape

    console = _console()
    if not report["fired"]:
        console.print("no rule fires for this context")
    for f in report["fired"]:
        caps = ", ".join(f"{k}={v!r}" for k, v in f["captures"].items()) or "no captures"
        console.print(
            f"{f['rank']}. [bold]{escape(f['rule'])}[/] fires ({escape(caps)}): "
            f"all {len(f['facts'])} of its facts hold"
        )
        for fact in f["facts"]:
            console.print(_fact_line(fact))
        for step in f["steps"]:
            params = escape(json.dumps(step["params"], ensure_ascii=False, default=str))
            console.print(f"     then {escape(step['action'])} {params}")
            if step["error"]:
                console.print(f"       [red]✗ a run would refuse it:[/] {escape(step['error'])}")
    for miss in report["near_misses"]:
        failed = len(miss["failed"])
        console.print(
            f"near miss: [bold]{escape(miss['rule'])}[/] (similarity "
            f"{miss['similarity']:.2f}; {failed} of {len(miss['facts'])} facts fail)"
        )
        for fact in miss["facts"]:
            console.print(_fact_line(fact))
