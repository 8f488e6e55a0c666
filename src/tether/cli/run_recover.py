"""``tether run`` after the command failed: the engine loaded, and recovery (or a dry run).

Nothing here is imported while the command passes: the engine, rules, YAML and
pydantic load only on this path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from tether.cli.run_outcome import Lines, RunOptions, finish

if TYPE_CHECKING:
    from tether.cli.display import Display
    from tether.engine import Tether
    from tether.process.command import CommandResult
    from tether.process.stdin import StdinFeed
    from tether.recover.loop import RecoverySettings
    from tether.recover.shell import CommandJob

__all__ = ["make_engine", "recover"]


def make_engine(home: Path | None, display: Display | None, strict: bool) -> Tether:
    """The engine on ``home``, its events shown by ``display``; ``strict``: a broken config.yaml raises."""
    from tether.engine import Tether

    return Tether(home=home, on_event=display, strict_config=strict)


def _settings(opts: RunOptions, engine: Tether) -> RecoverySettings:
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


def recover(
    opts: RunOptions,
    job: CommandJob,
    first: CommandResult,
    feed: StdinFeed,
    engine: Tether | None,
    lines: Lines,
) -> NoReturn:
    """The command failed: now load the engine, and recover (or dry-run, or save)."""
    from tether.cli.display import Display
    from tether.errors import TetherError

    display = Display(opts.quiet)
    try:
        if engine is None:
            engine = make_engine(opts.home, display, opts.strict)
        else:
            engine.on_event = display
        settings = _settings(opts, engine)
    except TetherError as exc:  # the command's own failure is never replaced by tether's
        lines.say(f"tether: error: {exc}; recovery did not run")
        finish(opts, job, first, first, None, "not_run", first.exit_code, str(exc))
    facts = {**job.context(first), **opts.extra}
    if opts.tail is not None:
        for key in ("stdout", "stderr"):
            facts[key] = "\n".join(str(facts.get(key, "")).splitlines()[-opts.tail :])
    if opts.save_context is not None:
        _save_context(opts.save_context, facts, lines)
    if opts.dry_run:
        would = _would_fire(engine, facts, settings, lines)
        why = "" if would else "no rule matches"
        finish(opts, job, first, first, None, "dry_run", first.exit_code, why, would)
    if not feed.replayable and not opts.rerun_stdin:
        why = (
            f"stdin was a pipe of more than {feed.limit // 1024} KiB: it cannot be replayed, "
            "so the command is not re-run after a fix (--rerun-stdin re-runs it anyway)"
        )
        lines.say(f"tether: {why}")
        finish(opts, job, first, first, None, "not_run", first.exit_code, why)
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
        finish(opts, job, first, result, None, "not_run", result.exit_code, "recovery did not run")
    status = (
        "passed"
        if result.exit_code == 0 and outcome is None
        else ("recovered" if outcome is not None and outcome.recovered else "gave_up")
    )
    finish(opts, job, first, result, outcome, status, result.exit_code)


def _save_context(path: Path, facts: dict[str, Any], lines: Lines) -> None:
    import json

    try:
        path.write_text(json.dumps(facts, indent=2, default=str) + "\n", encoding="utf-8")
    except OSError as exc:
        lines.say(f"tether: warning: could not save the context to {path}: {exc.strerror or exc}")
    else:
        lines.say(f"tether: failure context saved to {path}")


def _would_fire(
    engine: Tether, facts: dict[str, Any], settings: RecoverySettings, lines: Lines
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
