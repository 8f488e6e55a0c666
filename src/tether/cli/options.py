"""The options several ``tether`` commands share, defined once.

Use one as a parameter's default (``home: Path | None = HomeOption``); the
factories give the same option with a help text of the command's own where its
meaning differs (``init --home`` creates the home, ``run --json`` prints a run's
result). Only typer is imported, which every command has loaded already.
"""

from __future__ import annotations

from typing import Any

import typer

__all__ = [
    "HOME_HELP",
    "EscalationOption",
    "HintOption",
    "HomeOption",
    "JsonOption",
    "home_option",
    "json_option",
    "quiet_option",
]

HOME_HELP = "tether home (default: $TETHER_HOME, else the nearest .tether/ here or above)."
"""``--home``'s help where the home is looked for (every command but ``init``)."""


def home_option(help: str = HOME_HELP) -> Any:
    """``--home DIR`` / ``-d DIR``: the tether home (``None`` when not given)."""
    return typer.Option(None, "--home", "-d", metavar="DIR", help=help)


def json_option(help: str = "Print one JSON object (stable keys).") -> Any:
    """``--json``: print JSON instead of text (``False`` when not given)."""
    return typer.Option(False, "--json", help=help)


def quiet_option(help: str) -> Any:
    """``--quiet`` / ``-q``: print less (what is left out is the command's ``help``)."""
    return typer.Option(False, "--quiet", "-q", help=help)


HomeOption = home_option()
"""``--home DIR``, looked for as :data:`HOME_HELP` says."""

JsonOption = json_option()
"""``--json``: one JSON object with stable keys."""

HintOption = typer.Option(None, "--hint", help="A hint for the model that explores the failure.")
"""``--hint TEXT`` for exploration (``None`` when not given)."""

EscalationOption = typer.Option(
    False,
    "--allow-escalation",
    help="Hand a failed exploration (a give-up) over to the secondary model.",
)
"""``--allow-escalation`` for exploration (``False`` when not given)."""
