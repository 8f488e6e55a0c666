"""``tether stats`` and ``tether init``."""

from __future__ import annotations

from pathlib import Path

import typer

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

_EXAMPLE_ACTION = '''\
"""Actions for this home's rules: plain functions registered with @action."""

from tether import action


@action("report_missing_tool")
def report_missing_tool(tool: str) -> str:
    """Fail with a clear message: installing software is left to you."""
    raise RuntimeError(f"{tool} is not installed; install it, then re-run")
'''


def stats(home: Path | None = typer.Option(None, "--home", "-d", help="tether home.")) -> None:
    """Show how each rule has fared: tries, fixes, failures, last use."""
    from rich.table import Table

    from tether.cli import console
    from tether.engine import Tether

    rows = Tether(home=home).stats()
    if not rows:
        typer.echo("no rule has been applied yet")
        return
    table = Table(
        "rule", "hits", "successes", "failures", "success rate", "last used (UTC)", box=None
    )
    for r in rows:
        rate = f"{100 * r.successes / r.hits:.0f}%" if r.hits else "-"
        table.add_row(r.rule, str(r.hits), str(r.successes), str(r.failures), rate,
                      (r.last_used_utc or "-")[:19])  # fmt: skip
    console().print(table)


def init(home: Path | None = typer.Option(None, "--home", "-d", help="tether home.")) -> None:
    """Create a home: rules/, actions/, prompts/, config.yaml and an example rule."""
    from tether.engine import resolve_home
    from tether.errors import ConfigError

    where = resolve_home(home)
    try:
        for sub in ("rules", "actions", "prompts"):
            (where / sub).mkdir(parents=True, exist_ok=True)
        files = {
            where / "config.yaml": "engine:\n  max_retries: 3\n  max_depth: 3\nprofiles: {}\n",
            where / "rules" / "example-missing-tool.rule.yaml": _EXAMPLE_RULE,
            where / "actions" / "example.py": _EXAMPLE_ACTION,
        }
        for path, text in files.items():
            if not path.exists():
                path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot create the home at {where}: {exc.strerror}") from None
    typer.echo(f"tether home ready at {where}")


def register(app: typer.Typer) -> None:
    """Add ``stats`` and ``init`` to ``app``."""
    app.command("stats")(stats)
    app.command("init")(init)
