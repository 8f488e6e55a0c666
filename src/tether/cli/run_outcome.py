"""How a ``tether run`` ends: its flags that the failure path needs, its own lines, the exit.

:func:`finish` reports (``--json``, GitHub Actions annotations) and exits with the
command's code; :class:`Lines` prints tether's own plain lines on stderr.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:
    from tether.process.command import CommandResult
    from tether.recover.shell import CommandJob

__all__ = ["Lines", "RunOptions", "finish", "finish_interrupted"]


@dataclass
class RunOptions:
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


class Lines:
    """tether's own plain lines on stderr (never stuck to the command's last line), unless quiet."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, text: str) -> None:
        """Print ``text`` on stderr, on a line of its own; nothing when quiet."""
        if self.quiet:
            return
        from tether.process.terminal import line_break

        line_break()
        print(text, file=sys.stderr, flush=True)


def finish(
    opts: RunOptions,
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


def finish_interrupted(opts: RunOptions, job: CommandJob, signum: int, exit_code: int) -> NoReturn:
    """:func:`finish` for a run that signal ``signum`` interrupted (``exit_code``: 128 + N)."""
    finish(opts, job, None, None, None, "interrupted", exit_code, "interrupted", signum=signum)
