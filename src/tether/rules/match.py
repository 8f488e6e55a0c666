"""Deciding whether a rule holds for a context, and what it captured.

Matching sees each context value as text (:func:`tether.rules.model.as_text`),
up to :data:`MATCH_CAP_BYTES` per value. A longer value keeps its head
(:data:`HEAD_BYTES`) and its tail (the rest of the cap), joined by a marker
line: build logs put the command at the top and the error at the bottom, and
it is the middle that is noise. The cap keeps a 50 MB log from costing
50 MB of regex scanning on every rule.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from tether._types import Captures, Context
from tether.rules.model import Fact, Rule, as_text

__all__ = [
    "HEAD_BYTES",
    "MATCH_CAP_BYTES",
    "Prepared",
    "clip",
    "match_fact",
    "match_rule",
    "prepare",
    "required_literal",
    "required_literals",
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


class Prepared(dict[str, str]):
    """A context as matching sees it: each non-``None`` value as clipped text.

    Also keeps each value's UTF-8 bytes, encoded once on first use: RE2 scans
    bytes, and handing it ``str`` would re-encode a 64 KiB log for every regex.
    """

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self._bytes: dict[str, bytes] = {}

    def encoded(self, key: str) -> bytes | None:
        """The value of ``key`` as UTF-8 bytes (``None`` when absent)."""
        data = self._bytes.get(key)
        if data is None:
            text = self.get(key)
            if text is None:
                return None
            data = self._bytes[key] = text.encode("utf-8", errors="surrogatepass")
        return data


def prepare(context: Mapping[str, Any]) -> Prepared:
    """The context as matching sees it: every non-``None`` value as clipped text."""
    if isinstance(context, Prepared):
        return context
    return Prepared({k: clip(as_text(v)) for k, v in context.items() if v is not None})


def _search(fact: Fact, data: bytes) -> Captures | None:
    found = fact.compiled.search(data)
    if found is None:
        return None
    return {
        k: v.decode("utf-8", errors="replace")
        for k, v in found.groupdict().items()
        if v is not None
    }


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
    return _search(fact, text.encode("utf-8", errors="surrogatepass"))


def match_rule(rule: Rule, prepared: Mapping[str, str]) -> Captures | None:
    """Captures of every fact if all of ``rule.when`` holds, else ``None``.

    Cheap facts (``equals``, ``contains``) are tested before any regex runs.

    Args:
        rule: the rule to test.
        prepared: the context from :func:`prepare`.
    """
    ready = prepare(prepared)
    regexes = []
    for fact in rule.when:
        text = ready.get(fact.fact)
        if text is None:
            return None
        if fact.equals is not None:
            if text != fact.equals:
                return None
        elif fact.contains is not None:
            if fact.contains not in text:
                return None
        else:
            regexes.append(fact)
    captures: Captures = {}
    for fact in regexes:
        data = ready.encoded(fact.fact)
        assert data is not None
        got = _search(fact, data)
        if got is None:
            return None
        captures.update(got)
    return captures


def match_context(rule: Rule, context: Context) -> Captures | None:
    """:func:`match_rule` on a raw context (prepares it first)."""
    return match_rule(rule, prepare(context))


_MIN_LITERAL = 3


def _runs(items: Any) -> list[tuple[str, ...]]:
    """Literal requirements of parsed regex ``items``: groups of alternatives, one of each must occur."""
    groups: list[tuple[str, ...]] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) >= _MIN_LITERAL:
            groups.append(("".join(run),))
        run.clear()

    def walk(items: Any) -> None:
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                run.append(chr(arg))
            elif name == "SUBPATTERN":
                if arg[1] | arg[2]:  # a group with its own flags, e.g. (?i:...)
                    flush()
                    continue
                walk(arg[-1])
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, _high, body = arg
                flush()
                if low >= 1 and len(body) == 1 and str(body[0][0]) == "SUBPATTERN":
                    walk(body)
                flush()
            elif name == "BRANCH":
                flush()
                # one literal from each branch; usable only if every branch has one
                choices: list[str] = []
                for branch in arg[1]:
                    found = _runs(branch)
                    if not found:
                        choices = []
                        break
                    choices.append(max((g[0] for g in found if len(g) == 1), key=len, default=""))
                if choices and all(choices):
                    groups.append(tuple(sorted(set(choices))))
            elif name != "AT":
                flush()

    walk(items)
    flush()
    return groups


@functools.lru_cache(maxsize=65536)
def required_literals(pattern: str) -> tuple[tuple[tuple[str, ...], ...], bool]:
    """What every match of ``pattern`` must contain, for the resolver's prefilter.

    Returns ``(groups, ignore_case)``. Each group is a tuple of alternatives of
    which at least one occurs in any match: a plain run of three or more
    literal characters on the pattern's mandatory path is a group of one; an
    alternation whose every branch has such a run is a group of those runs.
    ``ignore_case`` tells whether the whole pattern is case-insensitive. The
    pattern is read with Python's own regex parser; anything it cannot read,
    or any construct the walk does not understand, yields fewer groups: the
    prefilter may pass too many rules, never too few.
    """
    try:
        from re import _parser  # type: ignore[attr-defined]

        parsed = _parser.parse(pattern)
    except Exception:
        return (), False
    ignore_case = bool(parsed.state.flags & re.IGNORECASE)
    groups = sorted(set(_runs(parsed)), key=lambda g: -min(len(x) for x in g))
    return tuple(groups), ignore_case


def required_literal(pattern: str) -> tuple[str, bool] | None:
    """The longest single required literal, with the case flag; ``None`` when there is none."""
    groups, ignore_case = required_literals(pattern)
    singles = [g[0] for g in groups if len(g) == 1]
    return (max(singles, key=len), ignore_case) if singles else None
