"""An :class:`~tether.loop.explanation.Explanation` in words: Markdown, and what displays share.

:func:`to_markdown` is for a ticket or a pull request: free text from the trace is escaped
so that Markdown shows it as written, and tool calls are inline code spans. The terminal
display (``tether explain``) shares :func:`iterations_text` and :func:`resumable_text`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tether._text import one_line

if TYPE_CHECKING:
    from tether.loop.explanation import ChainEntry, Explanation

__all__ = ["iterations_text", "resumable_text", "to_markdown"]

_MD_SPECIAL = re.compile(r"[\\`*<>|]|\](?=[(\[])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_SIGNAL_TITLES = {
    "regression": "regression",
    "repeated_action": "repeated action",
    "invalid_call": "invalid call",
    "tool_error": "tool error",
    "policy_stop": "policy stop",
    "approval": "approval",
    "truncated_output": "truncated output",
    "problem": "trace problem",
}


def _md(text: str) -> str:
    """One line of free text from the trace, escaped so Markdown shows it as written
    (no emphasis, code, links or HTML made of it; a ``_`` inside a word and brackets that
    make no link are left alone)."""
    return _MD_SPECIAL.sub(r"\\\g<0>", text)


def _code(text: str) -> str:
    """An inline code span that survives backticks inside ``text``."""
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def to_markdown(x: Explanation) -> str:
    """The explanation as Markdown: the stop, usage (a table), signals, the numbered chain."""
    resumable = resumable_text(x.resumable)
    out = [
        f"# Run explained: {x.status}",
        "",
        f"- **Goal:** {_md(one_line(x.goal, 400)) or '(not recorded)'}",
        f"- **Why it stopped:** {_md(x.reason)}",
        f"- **What to do next:** {_md(x.recommended_action)}",
        f"- **Resumable:** {resumable}",
        f"- **Model:** {_md(x.model or '(not recorded)')}; **limits:** {_md(x.limits or '(not recorded)')}",
        f"- **Run:** {x.run} of {x.runs} in this trace",
        "",
        "## Usage",
        "",
        "| | |",
        "| --- | --: |",
        *(f"| {name} | {_md(value)} |" for name, value in x.usage_rows()),
    ]
    if x.signals:
        out += ["", "## Signals", ""]
        for kind, text, iterations in x.grouped_signals():
            out.append(
                f"- **{_SIGNAL_TITLES.get(kind, kind)}**{iterations_text(iterations)}: {_md(text)}"
            )
    out += ["", "## Decision chain", ""]
    for number, entry in enumerate(x.chain, start=1):
        out.append(f"{number}. **{_md(entry.headline())}**")
        out += [f"   - {line}" for line in _entry_lines(entry)]
    if x.notes:
        out += ["", "## Notes on the trace", "", *(f"- {_md(n)}" for n in x.notes)]
    return "\n".join(out) + "\n"


def _entry_lines(entry: ChainEntry) -> list[str]:
    return [
        _md(p) if isinstance(p, str) else f"{_code(p.call_text())} → {_md(p.outcome_text())}"
        for p in entry.parts()
    ]


def iterations_text(iterations: list[int]) -> str:
    """`` (iteration 2)``, `` (iterations 2, 3, 4)``, or nothing (no iteration)."""
    if not iterations:
        return ""
    plural = "s" if len(iterations) > 1 else ""
    return f" (iteration{plural} {', '.join(map(str, iterations))})"


def resumable_text(resumable: bool | None) -> str:
    """``yes``, ``no``, or ``unknown`` (``None``: the trace does not say)."""
    return {True: "yes", False: "no", None: "unknown"}[resumable]
