"""The ``tether`` command: a client of the public API (typer + rich).

Command groups live in their own modules and import the engine only when
they run, so ``tether --help`` stays fast. One handler turns a
:class:`~tether.errors.TetherError` into a message and exit code
:data:`EXIT_TETHER_ERROR`; a wrapped job's own exit code always passes through
unchanged. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import typer

from tether.errors import TetherError

__all__ = ["EXIT_TETHER_ERROR", "app", "console", "main"]

EXIT_TETHER_ERROR = 4
"""tether's own failure (bad config, unknown profile ...), distinct from usage errors (2)."""


class _Group(typer.core.TyperGroup):
    """The root group; its ``--help`` flag converted without pydantic (see ``cli.plain``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        from tether.cli.plain import plain_values

        plain_values(self.get_params(ctx), {"help": (bool, None)})
        return super().parse_args(ctx, args)


app = typer.Typer(
    name="tether",
    cls=_Group,
    help="Keep automated work running: recover failing commands with reviewed rules.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_debug = False


def _version(value: bool) -> None:
    """``--version``: eager, so that it answers before a command is asked for."""
    if value:
        from tether import __version__

        typer.echo(f"tether {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of tether's own errors."),
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    global _debug
    _debug = debug


def console(stderr: bool = False) -> Any:
    """A rich console; when output is not a terminal, wide enough that tables are not cut."""
    from rich.console import Console

    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def _register(argv: list[str] | None = None) -> None:
    from tether.cli import agent, approve, explain, explore, rules, run, stats

    args = sys.argv[1:] if argv is None else argv
    command = next((a for a in args if not a.startswith("-")), None)

    run.register(app)
    explore.register(app)
    approve.register(app)
    explain.register(app)
    stats.register(app)
    app.add_typer(rules.app, name="rules")
    agent.register(app, commands=command == "agent")  # its sub-commands load only when asked


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    text = str(message)
    if not text.startswith("tether"):
        text = f"tether: warning: {text}"
    print(text, file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tether`` console script."""
    _register(argv)
    warnings.showwarning = _show_warning
    try:
        app(args=argv, standalone_mode=True)
    except TetherError as exc:
        if _debug:
            raise
        print(f"tether: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_TETHER_ERROR)
    except KeyboardInterrupt:
        print("tether: interrupted", file=sys.stderr)
        sys.exit(130)
