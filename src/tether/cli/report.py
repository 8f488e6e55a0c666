"""What ``tether run`` tells machines at the end: ``--json``, and GitHub Actions.

:func:`run_summary` is the final result as one JSON-ready dict (the shape
``--json`` prints as the last line of stdout). :func:`github_report` writes,
when ``GITHUB_ACTIONS=true``, a Markdown section to ``$GITHUB_STEP_SUMMARY``
(appended) and a ``::notice`` (recovered) or ``::error`` (gave up) line on
stderr, which the runner shows as an annotation.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.process.command import CommandResult
    from tether.recover.loop import Outcome

__all__ = ["STATUSES", "github_report", "run_summary"]

STATUSES = ("passed", "recovered", "gave_up", "not_run", "dry_run", "interrupted")
"""``status`` values of :func:`run_summary`: the first run passed; a rule fixed it; rules were
tried (or none matched) and it still fails; recovery could not run; ``--dry-run``; a signal."""


def run_summary(
    command: str,
    first: CommandResult | None,
    last: CommandResult | None,
    outcome: Outcome | None,
    *,
    status: str,
    exit_code: int,
    reason: str = "",
    would_fire: list[dict[str, Any]] | None = None,
    signal: int | None = None,
) -> dict[str, Any]:
    """The final result of ``tether run``, as plain JSON-ready data.

    Args:
        command: the command as the user wrote it.
        first: the first run (``None`` when it was interrupted before it finished).
        last: the last run (the first, when there was no re-run).
        outcome: what recovery did (``None`` when it did not run).
        status: one of :data:`STATUSES`.
        exit_code: what ``tether run`` exits with.
        reason: why recovery stopped, or did not run.
        would_fire: for ``--dry-run``: the rules that would be tried, in order, with their
            filled params (``[{"rule", "captures", "steps": [{"action", "params"|"error"}]}]``).
        signal: the signal number that interrupted the run.

    Returns:
        ``{"command", "status", "recovered", "exit_code", "first_exit_code", "depth",
        "rules": [{"rule", "level", "number", "outcome", "error"}], "reason", "merged_output",
        "signal", "would_fire"}``; ``depth`` is the number of error levels chased (0 when
        recovery did not run).
    """
    attempts = outcome.attempts if outcome is not None else []
    return {
        "command": command,
        "status": status,
        "recovered": status == "recovered",
        "exit_code": exit_code,
        "first_exit_code": first.exit_code if first is not None else None,
        "depth": outcome.levels if outcome is not None else 0,
        "rules": [
            {
                "rule": a.rule,
                "level": a.level,
                "number": a.number,
                "outcome": a.outcome,
                "error": a.error,
            }
            for a in attempts
        ],
        "reason": reason or (outcome.reason if outcome is not None else ""),
        "merged_output": bool(last.merged) if last is not None else False,
        "signal": signal,
        "would_fire": would_fire,
    }


def _escape(text: str) -> str:
    """Workflow-command data escaping (``%``, ``\\r``, ``\\n``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(summary: Mapping[str, Any]) -> str:
    status = summary["status"]
    title = {
        "recovered": "recovered",
        "gave_up": "gave up",
        "not_run": "could not recover",
        "dry_run": "dry run",
        "interrupted": "interrupted",
    }.get(status, status)
    lines = [f"### tether {title}: `{_cell(summary['command'])}`", ""]
    first = summary["first_exit_code"]
    lines.append(
        f"Exit code {summary['exit_code']}"
        + (f" (first run: {first})" if first else "")
        + (f"; {_cell(summary['reason'])}" if summary["reason"] else "")
        + "."
    )
    if summary["rules"]:
        lines += ["", "| depth | rule | outcome | error |", "| --- | --- | --- | --- |"]
        for r in summary["rules"]:
            error = _cell(r["error"] or "")
            lines.append(f"| {r['level']} | `{r['rule']}` | {r['outcome']} | {error} |")
    if summary["would_fire"]:
        lines += ["", "Would fire (not applied):", ""]
        for item in summary["would_fire"]:
            lines.append(f"- `{item['rule']}`")
    return "\n".join(lines) + "\n\n"


def github_report(
    summary: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    stderr: IO[str] | None = None,
    annotate: bool = True,
) -> bool:
    """Report ``summary`` (from :func:`run_summary`) to GitHub Actions, if running there.

    Nothing happens unless ``GITHUB_ACTIONS`` is ``true``, or when the first run passed.
    A step summary that cannot be written is skipped (the job's result is never changed
    by it).

    Args:
        summary: the result of :func:`run_summary`.
        environ: the environment to read (default: ``os.environ``).
        stderr: where annotation lines go (default: ``sys.stderr``).
        annotate: print the ``::notice``/``::error`` line (``-q`` turns it off).

    Returns:
        True when something was reported.
    """
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") != "true" or summary["status"] == "passed":
        return False
    path = env.get("GITHUB_STEP_SUMMARY")
    if path:
        try:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(_markdown(summary))
        except OSError:
            pass
    if annotate:
        out = stderr if stderr is not None else sys.stderr
        tried = ", ".join(r["rule"] for r in summary["rules"]) or "no rule matched"
        if summary["status"] == "recovered":
            fixed = [r["rule"] for r in summary["rules"] if r["outcome"] in ("success", "progress")]
            line = (
                f"::notice title=tether recovered::{_escape(summary['command'])} recovered "
                f"by {', '.join(fixed) or tried}"
            )
        elif summary["status"] in ("gave_up", "not_run"):
            line = (
                f"::error title=tether gave up::{_escape(summary['command'])} failed with exit "
                f"code {summary['exit_code']} ({_escape(summary['reason'] or tried)})"
            )
        else:
            line = ""
        if line:
            out.write(line + "\n")
            out.flush()
    return True
