"""``tether agent skills list|show|lint``: the project's and the home's Agent Skills.

A broken skill file is reported (file and key) and skipped: ``list`` and ``show`` of the other
skills keep working; ``lint`` exits 1 when any skill is broken. A name that breaks the naming
rules (``../x``) is a usage error (exit 2), never a path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from tether.orchestrate import Skills

__all__ = ["register"]

skills_app = typer.Typer(
    name="skills",
    help="Agent Skills: skills/<name>/SKILL.md in the project and <home>/skills/.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _skills(cwd: Path, home: Path | None) -> Skills:
    from tether.cli.agent.run import bad_input
    from tether.orchestrate import Project, Skills

    with bad_input("--cwd"):
        project = Project.at(cwd, home=home)
    return Skills.for_project(project.root, project.home)


def _warn(skills: Skills) -> None:
    for problem in skills.problems:
        print(f"tether: warning: skipped skill {problem}", file=sys.stderr)


@skills_app.command("list")
def list_skills(
    cwd: Path = typer.Option(Path("."), "--cwd", help="The target project."),
    home: Path | None = typer.Option(None, "--home", "-d", help="tether home."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the valid skills (broken ones are reported on stderr)."""
    skills = _skills(cwd, home)
    _warn(skills)
    if json_output:
        rows = [
            {"name": s.name, "description": s.description, "source": s.source, "path": str(s.path)}
            for s in skills.skills.values()
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not skills.skills:
        typer.echo("no skills")
    for s in skills.skills.values():
        typer.echo(f"{s.name}  ({s.source})  {s.description}")


@skills_app.command("show")
def show_skill(
    name: str = typer.Argument(..., help="The skill's name."),
    cwd: Path = typer.Option(Path("."), "--cwd", help="The target project."),
    home: Path | None = typer.Option(None, "--home", "-d", help="tether home."),
) -> None:
    """Print a skill's description and instructions."""
    from tether.cli.agent.run import bad_input

    skills = _skills(cwd, home)
    with bad_input("NAME"):
        skill = skills.get(name)
    typer.echo(f"# {skill.name}  ({skill.path})\n{skill.description}\n\n{skill.body}")


@skills_app.command("lint")
def lint_skills(
    cwd: Path = typer.Option(Path("."), "--cwd", help="The target project."),
    home: Path | None = typer.Option(None, "--home", "-d", help="tether home."),
) -> None:
    """Check every skill file; exit 1 when one is broken (each named by file and key)."""
    skills = _skills(cwd, home)
    for problem in skills.problems:
        typer.echo(f"✗ {problem}")
    typer.echo(f"{len(skills.skills)} valid, {len(skills.problems)} broken")
    raise typer.Exit(1 if skills.problems else 0)


def register(app: typer.Typer) -> None:
    """Add the ``skills`` group to the ``tether agent`` group."""
    app.add_typer(skills_app, name="skills")
