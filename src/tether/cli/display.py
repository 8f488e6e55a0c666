"""What recovery and exploration do, shown on stderr so the job's stdout stays its own."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from tether._text import shorten

__all__ = ["SPINNER_AFTER_S", "Display"]

SPINNER_AFTER_S = 1.0
"""A rule's steps still running after this many seconds get a spinner with the time taken."""


class _Elapsed:
    """Spinner text that reads the clock each time it is drawn: ``applying rule x ... 3.2 s``."""

    def __init__(self, label: str, clock: Callable[[], float]) -> None:
        self.label = label
        self.clock = clock
        self.started = clock()

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text(f"{self.label} {self.clock() - self.started:.1f} s")


class Display:
    """Prints what recovery and exploration do, on stderr, so the job's stdout stays its own.

    Each rule tried, its steps, its retries (``retry 2/4 in 2.0 s``, for rules with a
    ``retry:`` policy) and rollbacks are a line each. On a terminal, a rule's steps
    that run longer than ``spinner_after_s`` get a spinner with the elapsed time
    (rich ``Status``; it leaves nothing behind). While the explorer runs, each tool
    call is a line with the tokens and tool calls left; on a terminal a status line
    shows the same live between calls.

    Args:
        quiet: print nothing.
        console: a rich ``Console`` (default: tether's, on stderr).
        spinner_after_s: seconds before the spinner shows (``None``: never).
        clock: monotonic seconds, for the spinner's elapsed time.
    """

    def __init__(
        self,
        quiet: bool,
        *,
        console: Any = None,
        spinner_after_s: float | None = SPINNER_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if console is None:
            from tether.cli import console as make_console

            console = make_console(stderr=True)
        self.console = console
        self.quiet = quiet
        self.status: Any = None
        self.spinner_after_s = spinner_after_s
        self.clock = clock
        self._spinner: Any = None
        self._timer: threading.Timer | None = None
        self._spin_lock = threading.Lock()

    def say(self, text: str) -> None:
        if not self.quiet:
            from tether.process.terminal import line_break

            line_break()  # never on the command's last line when its output did not end one
            self.console.print(text)

    def __call__(self, event: Any) -> None:
        from rich.markup import escape

        d: dict[str, Any] = {
            k: escape(v) if isinstance(v, str) else v for k, v in event.data.items()
        }
        if event.kind.startswith(("explore", "promoted")):
            self._explore(event.kind, d)
            return
        match event.kind:
            case "attempt":
                caps = escape(", ".join(f"{k}={v}" for k, v in d["captures"].items()))
                self.say(
                    f"[bold cyan]tether ▸[/] depth {d['level']}: trying rule "
                    f"[bold]{d['rule']}[/]" + (f" ({caps})" if caps else "")
                )
                self._spin(f"applying rule {event.data['rule']} ...")
            case "retry":
                self._stop_spinner()
                self.say(
                    f"[bold cyan]tether ▸[/]   [yellow]↻[/] {d['rule']}: retry "
                    f"{d['attempt']}/{d['attempts']} in {float(d['delay_s']):.1f} s"
                )
            case "rolled_back":
                self._stop_spinner()
                undone = escape(", ".join(str(u) for u in event.data.get("undone") or []))
                self.say(
                    f"[bold cyan]tether ▸[/]   [yellow]↺[/] rolled back what {d['rule']} "
                    f"changed" + (f": {undone}" if undone else "")
                )
            case "applied":
                self._stop_spinner()
                for action, ok, detail in d["steps"]:
                    mark = "[green]✓[/]" if ok else "[red]✗[/]"
                    self.say(f"[bold cyan]tether ▸[/]   {mark} {action}: {escape(str(detail))}")
                if d.get("error") and not d["steps"]:
                    self.say(f"[bold cyan]tether ▸[/]   [red]✗[/] {d['error']}")
            case "progress":
                self._stop_spinner()
                self.say(
                    f"[bold cyan]tether ▸[/] [green]{d['rule']} fixed its error[/]; "
                    "a new failure showed underneath, going deeper"
                )
            case "rule_failed":
                self._stop_spinner()
                self.say(
                    f"[bold cyan]tether ▸[/] [yellow]{d['rule']} did not fix it[/] ({d['outcome']})"
                )
            case "recovered":
                self._stop_spinner()
                self.say(
                    f"[bold green]tether ✓ recovered[/] (last fix: {d['rule']}, depth {d['level']})"
                )
            case "gave_up":
                self._stop_spinner()
                self.say(f"[bold red]tether ✗ gave up:[/] {d['reason']}")
            case "needs_you":
                self._stop_spinner()
                self.say(f"[bold yellow]tether ▸ needs you:[/] {d['reason']}")

    def _spin(self, label: str) -> None:
        """Show a spinner with ``label`` and the elapsed time if still running after the delay."""
        self._stop_spinner()
        if self.quiet or self.spinner_after_s is None or not self.console.is_terminal:
            return
        text = _Elapsed(label, self.clock)

        def start() -> None:
            with self._spin_lock:
                if self._timer is None:  # stopped before the delay ran out
                    return
                self._timer = None
                self._spinner = self.console.status(text, spinner="dots")
                self._spinner.start()

        with self._spin_lock:
            self._timer = threading.Timer(self.spinner_after_s, start)
            self._timer.daemon = True
            self._timer.start()

    def _stop_spinner(self) -> None:
        with self._spin_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._spinner is not None:
                self._spinner.stop()
                self._spinner = None

    def close(self) -> None:
        """Stop any spinner or status line (call when recovery ends, also on errors)."""
        self._stop_spinner()
        if self.status is not None:
            self.status.stop()
            self.status = None

    def _explore(self, kind: str, d: dict[str, Any]) -> None:
        from rich.markup import escape

        head = "[bold magenta]tether ◆[/]"
        if kind == "explore_skipped":
            self.say(f"{head} not exploring: {d['reason']}")
        elif kind == "explore_cached":
            self.say(f"{head} reusing rule [bold]{d['rule']}[/], explored earlier in this session")
        elif kind == "explore_start":
            what = "escalating to" if d.get("escalate") else "exploring with"
            self.say(
                f"{head} {what} {d['model']} (budget: {d['max_tokens']:,} tokens, "
                f"{d['max_tool_calls']} tool calls)"
            )
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
            self.say(
                f"{head} exploration [{colour}]{d['outcome']}[/]: {d['reason']} "
                f"({d['tokens']:,} tokens, {d['tool_calls']} tool calls, {d['duration_s']:.1f}s, "
                f"{d['rejections']} submission(s) rejected by validation)"
            )
        elif kind == "explore_rejected":
            self.say(
                f"{head} [yellow]explored rule {d['rule']} did not verify[/]: {d['reason']}; "
                "dropped"
            )
        elif kind == "promoted":
            files = ", ".join(escape(str(f)) for f in d["files"])
            self.say(f"[bold green]tether ✓ verified; promoted rule {d['rule']}[/] → {files}")

    def _loop_event(self, d: dict[str, Any]) -> None:
        from rich.markup import escape

        left = (
            f"tokens {d['tokens_used']:,}/{d['token_limit']:,} · "
            f"calls {d['calls_made']}/{d['max_tool_calls']}"
        )
        if self.status is not None:
            self.status.update(f"exploring ... {left}")
        event = d.get("event")
        if event == "tool.call":
            args = escape(json.dumps(d.get("arguments"), default=str, ensure_ascii=False))
            args = shorten(args, 100, marker="...")
            self.say(f"[magenta]  ⚙[/] {d['tool']} {args}  [dim]{left}[/]")
        elif event == "tool.result" and d.get("status") != "ok":
            detail = str(d.get("content", ""))
            detail = shorten(detail, 300, marker="...")
            self.say(f"[magenta]    ✗[/] {d['tool']}: {escape(detail)}")
        elif event == "loop.end":
            self.say(f"[magenta]  ■[/] loop {d['status']}: {d['reason']}  [dim]{left}[/]")
