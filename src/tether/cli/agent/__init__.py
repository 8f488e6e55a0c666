"""``tether agent …``: governed runs and what happens around them, a client of
:mod:`tether.orchestrate`. Each sub-command group lives in its own module with a
``register(app)`` function, imported only when ``tether`` starts, so ``--help`` stays fast."""

from __future__ import annotations

import typer

__all__ = ["app", "register"]

app = typer.Typer(
    name="agent",
    help="Governed LLM runs: one run, goal runs, automations, memory, inbox, skills, worktrees.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def register(root: typer.Typer, *, commands: bool = True) -> None:
    """Add the ``agent`` group to the root ``tether`` app.

    Args:
        root: the root app.
        commands: import and add the sub-commands too; ``False`` adds the group alone (its
            name and help in ``tether --help``), so that other commands do not pay for
            importing these modules.
    """
    if commands:
        from tether.cli.agent import automations, inbox, run, skills, worktrees

        for module in (run, automations, inbox, skills, worktrees):
            module.register(app)
    root.add_typer(app, name="agent")
