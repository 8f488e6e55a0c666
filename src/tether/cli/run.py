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
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from tether.cli.display import Display
    from tether.engine import Tether
    from tether.process.command import CommandResult
    from tether.process.stdin import StdinFeed
    from tether.recover.loop import RecoverySettings
    from tether.recover.shell import CommandJob

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


class _Lines:
    """tether's own plain lines on stderr (never stuck to the command's last line), unless quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, text: str) -> None:
        if self.quiet:
            return
        from tether.process.terminal import line_break

        line_break()
        print(text, file=sys.stderr, flush=True)


def run(
    command: list[str] = typer.Argument(None, help="The command to run, after --."),
    home: Path | None = typer.Option(
        None, "--home", "-d", help="tether home (default: $TETHER_HOME or ./.tether)."
    ),
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
    hint: str | None = typer.Option(None, "--hint", help="A hint for exploration."),
    allow_escalation: bool = typer.Option(
        False, "--allow-escalation", help="Hand a failed exploration over to the secondary model."
    ),
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
    json_out: bool = typer.Option(
        False, "--json", help="Print the final result as JSON, the last line of stdout."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="A broken config.yaml is an error (default: warn, use defaults)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing of tether's own."),
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
    lines = _Lines(quiet)
    engine = None
    if strict or profile:  # checked before the job: --strict's config, a misspelt profile (exit 4)
        engine = _engine(home, None, strict)
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
    opts = _Options(
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
                _finish(opts, job, first, first, None, "passed", first.exit_code)
            _recover(opts, job, first, feed, engine, lines)
        except Interrupted as exc:
            lines.say("tether: interrupted")
            _finish_interrupted(opts, job, exc.signum, exc.exit_code)
        except KeyboardInterrupt:
            lines.say("tether: interrupted")
            _finish_interrupted(opts, job, 2, 130)
        finally:
            relay.close()


@dataclass
class _Options:
    """The flags of one ``tether run`` that the failure path needs."""

    home: Path | None
    profile: str | None
    plugin: Path | None
    extra: dict[str, str]
    tail: int | None
    max_retries: int | None
    max_depth: int | None
    explore: bool
    hint: str | None
    allow_escalation: bool
    rerun_stdin: bool
    dry_run: bool
    save_context: Path | None
    json_out: bool
    strict: bool
    quiet: bool


def _engine(home: Path | None, display: Display | None, strict: bool) -> Tether:
    from tether.engine import Tether

    return Tether(home=home, on_event=display, strict_config=strict)


def _settings(opts: _Options, engine: Tether) -> RecoverySettings:
    broken = engine.config is not None and engine.config_error is not None  # warned about
    chosen = engine.config.profile(opts.profile) if opts.profile and not broken else None
    plugin_path = opts.plugin or (Path(chosen.plugin) if chosen and chosen.plugin else None)
    hooks = None
    if plugin_path is not None:
        from tether.cli.plugin import load_plugin

        hooks = load_plugin(plugin_path)

    def pick(flag: Any, name: str) -> Any:
        return flag if flag is not None else getattr(chosen, name, None) if chosen else None

    settings = engine.settings(
        max_retries=pick(opts.max_retries, "max_retries"),
        max_depth=pick(opts.max_depth, "max_depth"),
        rules=pick(None, "rules"),
        tags=pick(None, "tags"),
        collection=pick(None, "collection"),
        fallback=pick(None, "fallback"),
        setup=hooks.setup if hooks else None,
        teardown=hooks.teardown if hooks else None,
    )
    settings.explore = bool(opts.explore or (chosen is not None and chosen.explore))
    settings.allow_escalation = bool(opts.allow_escalation or pick(None, "allow_escalation"))
    settings.hint = opts.hint or pick(None, "hint")
    return settings


def _recover(
    opts: _Options,
    job: CommandJob,
    first: CommandResult,
    feed: StdinFeed,
    engine: Tether | None,
    lines: _Lines,
) -> NoReturn:
    """The command failed: now load the engine, and recover (or dry-run, or save)."""
    from tether.cli.display import Display
    from tether.errors import TetherError

    display = Display(opts.quiet)
    try:
        if engine is None:
            engine = _engine(opts.home, display, opts.strict)
        else:
            engine.on_event = display
        settings = _settings(opts, engine)
    except TetherError as exc:  # the command's own failure is never replaced by tether's
        lines.say(f"tether: error: {exc}; recovery did not run")
        _finish(opts, job, first, first, None, "not_run", first.exit_code, str(exc))
    facts = {**job.context(first), **opts.extra}
    if opts.tail is not None:
        for key in ("stdout", "stderr"):
            facts[key] = "\n".join(str(facts.get(key, "")).splitlines()[-opts.tail :])
    if opts.save_context is not None:
        _save_context(opts.save_context, facts, lines)
    if opts.dry_run:
        would = _would_fire(engine, facts, settings, lines)
        why = "" if would else "no rule matches"
        _finish(opts, job, first, first, None, "dry_run", first.exit_code, why, would)
    if not feed.replayable and not opts.rerun_stdin:
        why = (
            f"stdin was a pipe of more than {feed.limit // 1024} KiB: it cannot be replayed, "
            "so the command is not re-run after a fix (--rerun-stdin re-runs it anyway)"
        )
        lines.say(f"tether: {why}")
        _finish(opts, job, first, first, None, "not_run", first.exit_code, why)
    result, outcome = engine.run_command(
        job.argv,
        cwd=job.cwd,
        context=opts.extra,
        settings=settings,
        tail_lines=opts.tail,
        job=job,
        first=first,
    )
    if outcome is None and result.exit_code != 0:
        display.say("[bold red]tether ✗[/] recovery did not run")
        _finish(opts, job, first, result, None, "not_run", result.exit_code, "recovery did not run")
    status = (
        "passed"
        if result.exit_code == 0 and outcome is None
        else ("recovered" if outcome is not None and outcome.recovered else "gave_up")
    )
    _finish(opts, job, first, result, outcome, status, result.exit_code)


def _save_context(path: Path, facts: dict[str, Any], lines: _Lines) -> None:
    import json

    try:
        path.write_text(json.dumps(facts, indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        lines.say(f"tether: warning: could not save the context to {path}: {exc.strerror or exc}")
    else:
        lines.say(f"tether: failure context saved to {path}")


def _would_fire(
    engine: Tether, facts: dict[str, Any], settings: RecoverySettings, lines: _Lines
) -> list[dict[str, Any]]:
    """``--dry-run``: the rules recovery would try, in order, with filled params; none applied."""
    from tether.actions.run import render_params
    from tether.errors import TetherError

    matches = engine.resolver.resolve(
        facts,
        rules=settings.rules,
        tags=settings.tags,
        collection=settings.collection,
        fallback=settings.fallback,
    )
    found: list[dict[str, Any]] = []
    for match in matches:
        rule = match.rule
        steps: list[dict[str, Any]] = []
        for number, step in enumerate(rule.then, start=1):
            try:
                params = render_params(
                    step.params,
                    match.captures,
                    facts,
                    action=step.action,
                    rule=rule.name,
                    step=number,
                )
                steps.append({"action": step.action, "params": params})
            except TetherError as exc:
                steps.append({"action": step.action, "error": str(exc)})
        found.append({"rule": rule.name, "captures": dict(match.captures), "steps": steps})
    if not found:
        lines.say("tether (dry run): no rule matches this failure")
    for i, item in enumerate(found):
        head = "would fire" if i == 0 else "next candidate"
        caps = ", ".join(f"{k}={v!r}" for k, v in item["captures"].items())
        lines.say(f"tether (dry run): {head}: {item['rule']}" + (f" ({caps})" if caps else ""))
        for step in item["steps"]:
            what = step.get("params", step.get("error"))
            lines.say(f"tether (dry run):   {step['action']} {what}")
    if found and facts.get("cwd_unknown"):
        lines.say(
            f"tether (dry run): a rule with steps would not be applied: {facts['cwd_unknown']}"
        )
    return found


def _finish(
    opts: _Options,
    job: CommandJob,
    first: CommandResult | None,
    last: CommandResult | None,
    outcome: Any,
    status: str,
    exit_code: int,
    reason: str = "",
    would_fire: list[dict[str, Any]] | None = None,
    signum: int | None = None,
) -> NoReturn:
    """Report (``--json``, GitHub Actions) and exit with ``exit_code``."""
    if opts.json_out or (status != "passed" and os.environ.get("GITHUB_ACTIONS") == "true"):
        from tether.cli.report import github_report, run_summary

        summary = run_summary(
            job.command,
            first,
            last,
            outcome,
            status=status,
            exit_code=exit_code,
            reason=reason,
            would_fire=would_fire,
            signal=signum,
        )
        github_report(summary, annotate=not opts.quiet or opts.json_out)
        if opts.json_out:
            import json

            from tether.process.terminal import at_line_start

            sys.stdout.write(("" if at_line_start() else "\n") + json.dumps(summary) + "\n")
    sys.stdout.flush()
    raise typer.Exit(exit_code)


def _finish_interrupted(opts: _Options, job: CommandJob, signum: int, exit_code: int) -> NoReturn:
    _finish(opts, job, None, None, None, "interrupted", exit_code, "interrupted", signum=signum)


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


class _PlainValue:
    """Converts one of ``run``'s values without pydantic (see :class:`_RunCommand`)."""

    def __init__(self, kind: type, minimum: float | None) -> None:
        self.kind, self.minimum = kind, minimum

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is None:
            return () if param.multiple or param.nargs == -1 else None
        if isinstance(value, list | tuple):
            return [self._one(v, param, ctx) for v in value]
        return self._one(value, param, ctx)

    def _one(self, value: Any, param: Any, ctx: Any) -> Any:
        if self.kind is bool:
            return bool(value)
        try:
            out = self.kind(value)
        except (TypeError, ValueError):
            name = self.kind.__name__
            raise typer.BadParameter(
                f"{value!r} is not a valid {name}", ctx=ctx, param=param
            ) from None
        if self.minimum is not None and out < self.minimum:
            raise typer.BadParameter(
                f"{out} is below the minimum {self.minimum:g}", ctx=ctx, param=param
            )
        return out


class _RunCommand(typer.core.TyperCommand):
    """``run`` with its values converted by :class:`_PlainValue`.

    Typer converts every non-flag value through a pydantic ``TypeAdapter``; importing
    pydantic and building the adapters would cost ``tether run -- true`` twice what
    ``tether --help`` costs. Where typer's parameters are not as expected (another typer
    version), its own conversion is kept: only the start-up cost changes.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        plain_values(self.get_params(ctx))
        return super().parse_args(ctx, args)


def plain_values(params: list[Any], table: dict[str, tuple[type, float | None]] = _PLAIN) -> None:
    """Give typer ``params`` named in ``table`` a converter without pydantic (before parsing).

    Args:
        params: a click command's parameters.
        table: parameter name -> (the type its value converts to, its minimum or ``None``).
    """
    for param in params:
        plain = table.get(param.name or "")
        if plain is not None and getattr(param, "_runtime_param", "absent") is None:
            param._runtime_param = _PlainValue(*plain)


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``explore`` to ``app``."""
    from tether.cli import explore

    app.command(
        cls=_RunCommand,
        context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
    )(run)
    explore.register(app)
