"""What recovery and exploration do, shown on stderr so the job's stdout stays its own."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["Display"]


class Display:
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
            from tether.recover.terminal import line_break

            line_break()  # never on the command's last line when its output did not end one
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
