"""``tether run -- CMD...``: run a command, recover it on failure, exit with its final code."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

__all__ = ["register"]


def _pairs(values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {item!r}", param_hint="--context")
        out[key] = value
    return out


class _Display:
    """Prints what recovery and exploration do, on stderr, so the job's stdout stays its own.

    While the explorer runs, each tool call is a line with the tokens and tool calls left;
    on a terminal a status line shows the same live between calls.
    """

    def __init__(self, quiet: bool) -> None:
        from tether.cli import console

        self.console = console(stderr=True)
        self.quiet = quiet
        self.status: Any = None

    def say(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text)

    def __call__(self, event: Any) -> None:
        from rich.markup import escape

        d: dict[str, Any] = {
            k: escape(v) if isinstance(v, str) else v for k, v in event.data.items()
        }
        if event.kind.startswith(("explore", "promoted")):
            self._explore(event.kind, d)
        elif event.kind == "attempt":
            caps = escape(", ".join(f"{k}={v}" for k, v in d["captures"].items()))
            self.say(f"[bold cyan]tether ▸[/] depth {d['level']}: trying rule "
                     f"[bold]{d['rule']}[/]" + (f" ({caps})" if caps else ""))  # fmt: skip
        elif event.kind == "applied":
            for action, ok, detail in d["steps"]:
                mark = "[green]✓[/]" if ok else "[red]✗[/]"
                self.say(f"[bold cyan]tether ▸[/]   {mark} {action}: {escape(str(detail))}")
            if d.get("error") and not d["steps"]:
                self.say(f"[bold cyan]tether ▸[/]   [red]✗[/] {d['error']}")
        elif event.kind == "progress":
            self.say(f"[bold cyan]tether ▸[/] [green]{d['rule']} fixed its error[/]; "
                     "a new failure showed underneath, going deeper")  # fmt: skip
        elif event.kind == "rule_failed":
            self.say(
                f"[bold cyan]tether ▸[/] [yellow]{d['rule']} did not fix it[/] ({d['outcome']})"
            )
        elif event.kind == "recovered":
            self.say(
                f"[bold green]tether ✓ recovered[/] (last fix: {d['rule']}, depth {d['level']})"
            )
        elif event.kind == "gave_up":
            self.say(f"[bold red]tether ✗ gave up:[/] {d['reason']}")

    def _explore(self, kind: str, d: dict[str, Any]) -> None:
        from rich.markup import escape

        head = "[bold magenta]tether ◆[/]"
        if kind == "explore_skipped":
            self.say(f"{head} not exploring: {d['reason']}")
        elif kind == "explore_cached":
            self.say(f"{head} reusing rule [bold]{d['rule']}[/], explored earlier in this session")
        elif kind == "explore_start":
            what = "escalating to" if d.get("escalate") else "exploring with"
            self.say(f"{head} {what} {d['model']} (budget: {d['max_tokens']:,} tokens, "
                     f"{d['max_tool_calls']} tool calls)")  # fmt: skip
            if not self.quiet and self.console.is_terminal:
                self.status = self.console.status("exploring ...", spinner="dots")
                self.status.start()
        elif kind == "explore":
            self._loop_event(d)
        elif kind == "explore_end":
            if self.status is not None:
                self.status.stop()
                self.status = None
            colour = "green" if d["outcome"] in ("submitted", "existing", "done") else "yellow"
            self.say(f"{head} exploration [{colour}]{d['outcome']}[/]: {d['reason']} "
                     f"({d['tokens']:,} tokens, {d['tool_calls']} tool calls, {d['duration_s']:.1f}s, "
                     f"{d['rejections']} submission(s) rejected by validation)")  # fmt: skip
        elif kind == "explore_rejected":
            self.say(f"{head} [yellow]explored rule {d['rule']} did not verify[/]: {d['reason']}; "
                     "dropped")  # fmt: skip
        elif kind == "promoted":
            files = ", ".join(escape(str(f)) for f in d["files"])
            self.say(f"[bold green]tether ✓ verified; promoted rule {d['rule']}[/] → {files}")

    def _loop_event(self, d: dict[str, Any]) -> None:
        from rich.markup import escape

        left = (f"tokens {d['tokens_used']:,}/{d['token_limit']:,} · "
                f"calls {d['calls_made']}/{d['max_tool_calls']}")  # fmt: skip
        if self.status is not None:
            self.status.update(f"exploring ... {left}")
        event = d.get("event")
        if event == "tool.call":
            args = escape(json.dumps(d.get("arguments"), default=str, ensure_ascii=False))
            args = args if len(args) <= 100 else args[:97] + "..."
            self.say(f"[magenta]  ⚙[/] {d['tool']} {args}  [dim]{left}[/]")
        elif event == "tool.result" and d.get("status") != "ok":
            detail = str(d.get("content", ""))
            detail = detail if len(detail) <= 300 else detail[:297] + "..."
            self.say(f"[magenta]    ✗[/] {d['tool']}: {escape(detail)}")
        elif event == "loop.end":
            self.say(f"[magenta]  ■[/] loop {d['status']}: {d['reason']}  [dim]{left}[/]")


def run(
    command: list[str] = typer.Argument(..., help="The command to run, after --."),
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
        [], "--context", "-C", help="Extra key=value added to the failure context."
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
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing of tether's own."),
) -> None:
    """Run COMMAND; when it fails, fix it with matching rules and run it again.

    With --explore, a failure no rule fixes goes to the configured model, which proposes
    a rule (and action); it is kept only if the re-run passes. Exits with the command's
    final exit code.
    """
    from tether.engine import Tether

    extra = _pairs(context)
    display = _Display(quiet)
    engine = Tether(home=home, on_event=display)
    chosen = engine.config.profile(profile) if profile else None
    plugin_path = plugin or (Path(chosen.plugin) if chosen and chosen.plugin else None)
    hooks = None
    if plugin_path is not None:
        from tether.cli.plugin import load_plugin

        hooks = load_plugin(plugin_path)

    def pick(flag: Any, name: str) -> Any:
        return flag if flag is not None else getattr(chosen, name, None) if chosen else None

    settings = engine.settings(
        max_retries=pick(max_retries, "max_retries"),
        max_depth=pick(max_depth, "max_depth"),
        rules=pick(None, "rules"),
        tags=pick(None, "tags"),
        collection=pick(None, "collection"),
        fallback=pick(None, "fallback"),
        setup=hooks.setup if hooks else None,
        teardown=hooks.teardown if hooks else None,
    )
    settings.explore = bool(explore or (chosen is not None and chosen.explore))
    settings.allow_escalation = bool(allow_escalation or pick(None, "allow_escalation"))
    settings.hint = hint or pick(None, "hint")
    result, outcome = engine.run_command(
        command, cwd=os.getcwd(), context=extra, settings=settings, tail_lines=tail
    )
    if outcome is None and result.exit_code != 0:
        display.say("[bold red]tether ✗[/] recovery did not run")
    sys.stdout.flush()
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``explore`` to ``app``."""
    from tether.cli import explore

    app.command(
        context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True}
    )(run)
    explore.register(app)
