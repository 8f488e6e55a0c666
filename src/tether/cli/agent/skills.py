"""``tether agent``: the skills commands (being built for issue 13)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``tether agent`` group (none yet)."""
    del app
