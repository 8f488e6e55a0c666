"""Deciding whether a rule holds for a context, and what it captured.

Matching sees each context value as text (:func:`tether.rules.model.as_text`),
up to :data:`MATCH_CAP_BYTES` per value. A longer value keeps its head
(:data:`HEAD_BYTES`) and its tail (the rest of the cap), joined by a marker
line: build logs put the command at the top and the error at the bottom, and
it is the middle that is noise. The cap keeps a 50 MB log from costing
50 MB of regex scanning on every rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tether._types import Captures, Context
from tether.rules.model import Fact, Rule, as_text

__all__ = [
    "HEAD_BYTES",
    "MATCH_CAP_BYTES",
    "clip",
    "match_fact",
    "match_rule",
    "prepare",
    "required_literal",
]

MATCH_CAP_BYTES = 256 * 1024
"""Characters of each context value that matching sees (256 KiB)."""

HEAD_BYTES = 32 * 1024
"""Of :data:`MATCH_CAP_BYTES`, how much comes from the start of a longer value; the rest is its end."""


def clip(text: str, cap: int = MATCH_CAP_BYTES, head: int = HEAD_BYTES) -> str:
    """Keep the head and the tail of ``text`` when it is longer than ``cap`` characters.

    >>> clip("a" * 10 + "b" * 10, cap=8, head=2)
    'aa\\n[... 12 characters omitted ...]\\nbbbbbb'
    """
    if len(text) <= cap:
        return text
    tail = cap - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted} characters omitted ...]\n{text[-tail:]}"


def prepare(context: Mapping[str, Any]) -> dict[str, str]:
    """The context as matching sees it: every non-``None`` value as clipped text."""
    return {k: clip(as_text(v)) for k, v in context.items() if v is not None}


def match_fact(fact: Fact, text: str | None) -> Captures | None:
    """Captures (``{}`` when none) if ``fact`` holds for ``text``, else ``None``.

    ``text`` is the prepared value of the fact's key; ``None`` (key absent) never holds.
    """
    if text is None:
        return None
    if fact.equals is not None:
        return {} if text == fact.equals else None
    if fact.contains is not None:
        return {} if fact.contains in text else None
    found = fact.compiled.search(text)
    if found is None:
        return None
    return {k: v for k, v in found.groupdict().items() if v is not None}


def match_rule(rule: Rule, prepared: Mapping[str, str]) -> Captures | None:
    """Captures of every fact if all of ``rule.when`` holds, else ``None``.

    Args:
        rule: the rule to test.
        prepared: the context from :func:`prepare`.
    """
    captures: Captures = {}
    for fact in rule.when:
        got = match_fact(fact, prepared.get(fact.fact))
        if got is None:
            return None
        captures.update(got)
    return captures


def match_context(rule: Rule, context: Context) -> Captures | None:
    """:func:`match_rule` on a raw context (prepares it first)."""
    return match_rule(rule, prepare(context))


_MIN_LITERAL = 3


def required_literal(pattern: str) -> tuple[str, bool] | None:
    """A substring every match of ``pattern`` must contain, for the resolver's prefilter.

    Returns ``(literal, ignore_case)`` for the longest run of literal characters
    on the pattern's mandatory path, or ``None`` when there is none of at least
    three characters (such rules are always checked in full). The pattern is
    read with Python's own regex parser; anything it cannot read, or any
    construct this walk does not understand, yields ``None``: the prefilter may
    pass too many rules, never too few.
    """
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern)
    except Exception:
        return None
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    best = ""
    run: list[str] = []

    def flush() -> None:
        nonlocal best
        if len(run) > len(best):
            best = "".join(run)
        run.clear()

    def walk(items: Any) -> bool:
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                run.append(chr(arg))
            elif name == "SUBPATTERN":
                group_flags = arg[1] | arg[2] if len(arg) >= 3 else 0
                if group_flags:
                    flush()
                    continue
                if not walk(arg[-1]):
                    return False
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, _high, body = arg
                flush()
                if low >= 1 and len(body) == 1 and str(body[0][0]) == "SUBPATTERN":
                    walk(body)
                flush()
            elif name == "AT":
                continue
            else:
                flush()
        return True

    if not walk(parsed):
        return None
    flush()
    if len(best) < _MIN_LITERAL:
        return None
    return best, ignore_case
