"""``tether stats`` and ``tether init``.

``stats`` only reads: with no home here it says so and exits 0 (a fresh CI runner
has no records, and reading none is no failure). ``stats --json`` prints
``{"home": str|null, "rules": [{"rule", "hits", "successes", "failures",
"success_rate": float|null (0..1), "last_outcome": str|null, "last_used_utc": str|null}]}``,
most used first.

``init`` creates the home in the working directory (like ``git init``), or at
``--home``/``$TETHER_HOME``, with a ``.gitignore`` that keeps the records
(``tether.db*``, ``observations.jsonl``, ``traces/``, ``state/``) out of git while
``rules/``, ``actions/``, ``prompts/`` and ``config.yaml`` stay tracked.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from tether.cli.options import HomeOption, JsonOption, home_option

__all__ = ["register"]

_EXAMPLE_RULE = """\
# An example rule: edit or delete it. Format: `tether rules show git-index-lock`.
name: example-missing-tool
description: A command that is not installed (an example to edit; its action only reports)
tags: [example]
when:
  - fact: exit_code
    equals: "127"
  - fact: stderr
    regex: "(?P<tool>[\\\\w.-]+): command not found"
    examples:
      - "tether: frobnicate: command not found"
then:
  - action: report_missing_tool
    params:
      tool: "{tool}"
"""

_GITIGNORE = """\
# tether's records of this machine's runs: not for review. rules/, actions/, prompts/
# and config.yaml are the home's knowledge: keep them in git.
tether.db*
observations.jsonl
traces/
state/
"""

_EXAMPLE_ACTION = '''\
"""Actions for this home's rules: plain functions registered with @action."""

from tether import action


@action("report_missing_tool")
def report_missing_tool(tool: str) -> str:
    """Fail with a clear message: installing software is left to you."""
    raise RuntimeError(f"{tool} is not installed; install it, then re-run")
'''


def stats(
    home: Path | None = HomeOption,
    as_json: bool = JsonOption,
) -> None:
    """Show how each rule has fared: tries, fixes, failures, last use."""
    from tether.config import existing_home

    found = existing_home(home)
    rows: list[Any] = []
    if found is None:
        typer.echo("tether: no home here (run tether init)", err=True)
    elif (found / "tether.db").exists():  # a home without records: nothing to open or create
        from tether.engine import Tether

        engine = Tether(home=found, strict_config=False)
        try:
            rows = engine.stats()
        finally:
            engine.close()
    if as_json:
        data = [
            {
                "rule": r.rule,
                "hits": r.hits,
                "successes": r.successes,
                "failures": r.failures,
                "success_rate": round(r.successes / r.hits, 4) if r.hits else None,
                "last_outcome": r.last_outcome,
                "last_used_utc": r.last_used_utc,
            }
            for r in rows
        ]
        typer.echo(json.dumps({"home": str(found) if found else None, "rules": data}, indent=2))
        return
    if found is None:
        return
    if not rows:
        typer.echo("no rule has been applied yet")
        return
    from rich.table import Table

    from tether.cli import console

    table = Table(
        "rule", "hits", "successes", "failures", "success rate", "last used (UTC)", box=None
    )
    for r in rows:
        rate = f"{100 * r.successes / r.hits:.0f}%" if r.hits else "-"
        table.add_row(
            r.rule,
            str(r.hits),
            str(r.successes),
            str(r.failures),
            rate,
            (r.last_used_utc or "-")[:19],
        )
    console().print(table)


def init(
    home: Path | None = home_option("Where to create it (default: $TETHER_HOME, else ./.tether)."),
) -> None:
    """Create a home: rules/, actions/, prompts/, config.yaml, .gitignore and an example rule.

    Files already there are kept. The home goes in the working directory (as
    ``git init`` does) unless --home or $TETHER_HOME names one.
    """
    import os

    from tether.config import HOME_DIR, explicit_home, find_home
    from tether.errors import ConfigError

    chosen = explicit_home(home)
    where = chosen or Path(os.getcwd()) / HOME_DIR
    above = None  # a home above the working directory that this new one hides below here
    if chosen is None and not (where.parent / ".git").exists():
        above = find_home(where.parent.parent)
    try:
        for sub in ("rules", "actions", "prompts"):
            (where / sub).mkdir(parents=True, exist_ok=True)
        files = {
            where / "config.yaml": "engine:\n  max_retries: 3\n  max_depth: 3\nprofiles: {}\n",
            where / ".gitignore": _GITIGNORE,
            where / "rules" / "example-missing-tool.rule.yaml": _EXAMPLE_RULE,
            where / "actions" / "example.py": _EXAMPLE_ACTION,
        }
        for path, text in files.items():
            if not path.exists():
                path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot create the home at {where}: {exc.strerror}") from None
    typer.echo(f"tether home ready at {where}")
    if above is not None:
        typer.echo(
            f"tether: note: below {where.parent} this home is used instead of {above}", err=True
        )


def register(app: typer.Typer) -> None:
    """Add ``stats`` and ``init`` to ``app``."""
    app.command("stats")(stats)
    app.command("init")(init)
