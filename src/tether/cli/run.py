"""``tether run -- CMD...``: run a command, recover it on failure, exit with its final code.

The wrapper is meant to be invisible until it helps:

- the command reads our stdin (:mod:`tether.process.stdin`), gets a
  pseudo-terminal when our stdout is one (``--no-pty`` turns it off), and runs
  in its own session; signals sent to tether reach its process group, with a
  grace period before SIGKILL (:mod:`tether.process.signals`);
- the first run imports only the standard library (and typer, already loaded
  to parse the arguments); the engine, rules, YAML and pydantic are imported
  only when the command failed;
- tether's own lines go to stderr, on a line of their own, and ``-q`` (or
  ``--json``) turns them all off;
- the exit code is the command's own (``128 + N`` when signal N ended it);
  tether's own are 2 (usage) and 4 (config, with ``--strict``).

This module parses the flags and runs the command; what follows a failure is
:mod:`tether.cli.run_recover`, and the report and exit :mod:`tether.cli.run_outcome`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tether.cli.options import EscalationOption, HintOption, home_option, json_option, quiet_option
from tether.cli.plain import plain_values
from tether.cli.run_outcome import Lines, RunOptions, finish, finish_interrupted

if TYPE_CHECKING:
    from tether.process.command import CommandResult

__all__ = ["register"]


def _pairs(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {item!r}", param_hint="--context")
        out[key] = value
    return out


def _argv(command: list[str] | None, shell: str | None) -> list[str]:
    if shell is not None and command:
        raise typer.BadParameter(
            "give either --shell LINE or a command after --, not both", param_hint="--shell"
        )
    if shell is not None:
        import shutil

        return [shutil.which("bash") or "/bin/sh", "-c", shell]
    if not command:
        raise typer.BadParameter("give the command to run after --", param_hint="COMMAND")
    return list(command)


def run(
    command: list[str] = typer.Argument(None, help="The command to run, after --."),
    home: Path | None = home_option(),
    profile: str | None = typer.Option(
        None, "--profile", "-p", help="Named profile from config.yaml."
    ),
    plugin: Path | None = typer.Option(
        None, "--plugin", help="Python file with tools and setup/teardown hooks."
    ),
    context: list[str] = typer.Option(
        [], "--context", "-C", metavar="KEY=VALUE", help="Extra fact for the failure context."
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
    hint: str | None = HintOption,
    allow_escalation: bool = EscalationOption,
    shell: str | None = typer.Option(
        None, "--shell", metavar="LINE", help="Run LINE with bash (sh if there is no bash)."
    ),
    no_pty: bool = typer.Option(
        False, "--no-pty", help="No pseudo-terminal for the command, even on a terminal."
    ),
    grace: float = typer.Option(
        10.0,
        "--grace",
        min=0.0,
        metavar="SECONDS",
        help="After a signal is passed on to the command, wait this long before SIGKILL.",
    ),
    rerun_stdin: bool = typer.Option(
        False,
        "--rerun-stdin",
        help="Re-run after a fix even when piped stdin (over 1 MiB) cannot be replayed.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="On failure, show which rule would fire; apply nothing."
    ),
    save_context: Path | None = typer.Option(
        None,
        "--save-context",
        metavar="FILE",
        help="On failure, write the failure context as JSON (for rules test / explore).",
    ),
    json_out: bool = json_option("Print the final result as JSON, the last line of stdout."),
    strict: bool = typer.Option(
        False, "--strict", help="A broken config.yaml is an error (default: warn, use defaults)."
    ),
    quiet: bool = quiet_option("Print nothing of tether's own."),
) -> None:
    """Run COMMAND; when it fails, fix it with matching rules and run it again.

    With --explore, a failure no rule fixes goes to the configured model, which proposes
    a rule (and action); it is kept only if the re-run passes. Exits with the command's
    final exit code.
    """
    from tether.process.command import run_command
    from tether.process.signals import Interrupted, SignalRelay
    from tether.process.stdin import StdinFeed
    from tether.recover.shell import CommandJob

    argv = _argv(command, shell)
    extra = _pairs(context)
    quiet = quiet or json_out
    if quiet:
        import warnings

        warnings.simplefilter("ignore")
    lines = Lines(quiet)
    engine = None
    if strict or profile:  # checked before the job: --strict's config, a misspelt profile (exit 4)
        from tether.cli.run_recover import make_engine

        engine = make_engine(home, None, strict)
        config = engine.config
        if profile and engine.config_error is None:
            config.profile(profile)
    feed = StdinFeed(0)
    use_pty = not no_pty and sys.stdout.isatty()
    relay = SignalRelay(grace_s=grace)

    def runner(argv: list[str], cwd: Path) -> CommandResult:
        result = run_command(argv, cwd=cwd, stream=True, stdin=feed, pty=use_pty, relay=relay)
        signum = relay.take()
        if signum is not None:
            raise Interrupted(signum, result.exit_code)
        return result

    job = CommandJob(argv, Path.cwd(), runner)
    opts = RunOptions(
        home=home,
        profile=profile,
        plugin=plugin,
        extra=extra,
        tail=tail,
        max_retries=max_retries,
        max_depth=max_depth,
        explore=explore,
        hint=hint,
        allow_escalation=allow_escalation,
        rerun_stdin=rerun_stdin,
        dry_run=dry_run,
        save_context=save_context,
        json_out=json_out,
        strict=strict,
        quiet=quiet,
    )
    with relay.installed():
        try:
            first = job.run()
            if first.exit_code == 0:
                finish(opts, job, first, first, None, "passed", first.exit_code)
            from tether.cli.run_recover import recover

            recover(opts, job, first, feed, engine, lines)
        except Interrupted as exc:
            lines.say("tether: interrupted")
            finish_interrupted(opts, job, exc.signum, exc.exit_code)
        except KeyboardInterrupt:
            lines.say("tether: interrupted")
            finish_interrupted(opts, job, 2, 130)
        finally:
            relay.close()


_PLAIN: dict[str, tuple[type, float | None]] = {
    "command": (str, None),
    "home": (Path, None),
    "profile": (str, None),
    "plugin": (Path, None),
    "context": (str, None),
    "tail": (int, 1),
    "max_retries": (int, 0),
    "max_depth": (int, 1),
    "hint": (str, None),
    "shell": (str, None),
    "grace": (float, 0.0),
    "save_context": (Path, None),
    "help": (bool, None),
}
"""``run``'s non-flag parameters (and ``--help``): the type each value converts to, its minimum."""


class _RunCommand(typer.core.TyperCommand):
    """``run`` with its values converted without pydantic (:mod:`tether.cli.plain`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        plain_values(self.get_params(ctx), _PLAIN)
        return super().parse_args(ctx, args)


def register(app: typer.Typer) -> None:
    """Add ``run`` to ``app``."""
    app.command(
        cls=_RunCommand,
        context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
    )(run)
