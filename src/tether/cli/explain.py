"""``tether explain TRACE.jsonl``: why a governed run stopped, what it tried, what to do next."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from tether.loop.explain import Explanation

__all__ = ["register"]

_STYLES = {"SUCCESS": "green", "AWAITING_APPROVAL": "yellow", "RUNNING/INCOMPLETE": "yellow"}


def explain(
    trace: Path = typer.Argument(..., metavar="TRACE.jsonl", help="A loop's JSONL trace."),
    markdown: bool = typer.Option(
        False, "--markdown", help="Print Markdown (for a ticket or a pull request)."
    ),
    run: int = typer.Option(
        -1, "--run", help="Which run of the file: 1 is the first, -1 (default) the last."
    ),
) -> None:
    """Explain a governed run from its trace: the stop, what was tried, what to do next."""
    from tether.loop.explain import explain as explain_run
    from tether.loop.explain import load_trace

    report = explain_run(load_trace(trace), run=run)
    if markdown:
        typer.echo(report.to_markdown(), nl=False)
    else:
        _show(report)


def _show(x: Explanation) -> None:
    """The explanation in the terminal: a panel (status, reason, next step), usage, signals,
    the chain. Trace text is printed as text, never read as rich markup."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from tether.cli import console
    from tether.loop.explain_render import iterations_text, resumable_text

    out = console()
    style = _STYLES.get(x.status, "red")
    resumable = resumable_text(x.resumable)
    head = Text()
    head.append(x.status, style=f"bold {style}")
    head.append(f"\nwhy:  {x.reason}\nnext: {x.recommended_action}\nresumable: {resumable}")
    head.append(
        f"\ngoal: {x.goal or '(not recorded)'}\nmodel: {x.model or '?'}  limits: {x.limits or '?'}"
    )
    title = f"tether explain · run {x.run} of {x.runs}"
    out.print(Panel(head, title=title, title_align="left", border_style=style, expand=False))
    table = Table("usage", "", box=None, show_header=False)
    for name, value in x.usage_rows():
        table.add_row(name, value)
    out.print(table)
    if x.signals:
        out.print(Text("\nSignals", style="bold"))
        for kind, text, iterations in x.grouped_signals():
            at = iterations_text(iterations)
            out.print(Text(f"  • {kind.replace('_', ' ')}{at}: {text}"))
    out.print(Text("\nDecision chain", style="bold"))
    for number, entry in enumerate(x.chain, start=1):
        out.print(Text(f"{number:>3}. {entry.headline()}", style=_entry_style(entry.kind)))
        for line in entry.details():
            out.print(Text(f"       {line}"))
    for note in x.notes:
        out.print(Text(f"note: {note}", style="yellow"))


def _entry_style(kind: str) -> Any:
    return {"stop": "bold", "incomplete": "bold yellow", "resumed": "cyan"}.get(kind, "")


def register(app: typer.Typer) -> None:
    """Add ``explain`` to ``app``."""
    app.command("explain")(explain)
