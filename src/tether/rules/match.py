"""Deciding whether a rule holds for a context, and what it captured.

Matching sees each context value as text (:func:`tether.rules.model.as_text`),
up to :data:`MATCH_CAP_BYTES` per value. A longer value keeps its head
(:data:`HEAD_BYTES`) and its tail (the rest of the cap), joined by a marker
line: build logs put the command at the top and the error at the bottom, and
it is the middle that is noise. The cap keeps a 50 MB log from costing
50 MB of regex scanning on every rule.

:func:`match_rule` is the reference: what a rule's facts say, checked one by
one. For the rule book's prefilter, :func:`analyze` reads a pattern once and
says what every match must contain and whether matches stay within a line;
:meth:`Prepared.search` uses that to search only the lines holding a
required literal, with the same result as a search of the whole value.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from tether._text import head_and_tail
from tether._types import Captures, Context
from tether.rules.model import Fact, Rule, as_text

__all__ = [
    "ANALYSIS_VERSION",
    "HEAD_BYTES",
    "MATCH_CAP_BYTES",
    "PatternInfo",
    "Prepared",
    "analyze",
    "anchor_lines",
    "clip",
    "match_fact",
    "match_rule",
    "prepare",
    "remember_analysis",
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
    return head_and_tail(text, cap, head=head)


class Prepared(dict[str, str]):
    """A context as matching sees it: each non-``None`` value as clipped text.

    Also keeps each value's UTF-8 bytes, encoded once on first use (RE2 scans
    bytes, and handing it ``str`` would re-encode a 64 KiB log for every
    regex), and the result of each ``(key, pattern)`` search done through
    :meth:`search`, so rules sharing a pattern cost one search. Treat it as
    read-only.
    """

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self._bytes: dict[str, bytes] = {}
        self._found: dict[tuple[str, str], Captures | None] = {}
        self._lines: dict[tuple[str, tuple[bytes, ...]], bytes] = {}

    def encoded(self, key: str) -> bytes | None:
        """The value of ``key`` as UTF-8 bytes (``None`` when absent)."""
        data = self._bytes.get(key)
        if data is None:
            text = self.get(key)
            if text is None:
                return None
            data = self._bytes[key] = text.encode("utf-8", errors="surrogatepass")
        return data

    def rule_out(self, key: str, pattern: str) -> None:
        """Record that ``pattern`` (a rule regex) occurs nowhere in the value of ``key``."""
        self._found.setdefault((key, pattern), None)

    def search(
        self,
        fact: Fact,
        anchors: tuple[bytes, ...] = (),
        others: tuple[tuple[bytes, ...], ...] = (),
    ) -> Captures | None:
        """Captures if the regex ``fact`` holds for its key's value, else ``None`` (memoised).

        Same result as :func:`match_fact`. ``anchors`` speeds up a line-local
        pattern (:attr:`PatternInfo.line_local`): literals without newlines of
        which every match contains one. Only the lines holding an anchor are
        searched, joined (:func:`anchor_lines`): each match lies within one
        line that holds an anchor, the lines keep their order, and the
        pattern's ``^``, ``$``, ``\\b`` see the same neighbours (a line break
        or the edge of the text), so the first match and its captures are those
        of a search of the whole value.

        ``others`` (only with ``anchors``): the pattern's other required
        literal groups (:attr:`PatternInfo.groups`, case-sensitive); a
        line-local match lies within one anchor line, so it holds one
        alternative of each group too. When some group has no alternative in
        the anchor lines the regex cannot match and RE2 does not run.
        """
        assert fact.regex is not None
        memo = (fact.fact, fact.regex)
        if memo in self._found:
            return self._found[memo]
        data = self.encoded(fact.fact)
        if data is None:
            found = None
        elif anchors:
            lines = self._lines.get((fact.fact, anchors))
            if lines is None:
                lines = self._lines[(fact.fact, anchors)] = anchor_lines(data, anchors)
            if lines and all(any(a in lines for a in group) for group in others):
                found = _captures(fact.compiled.search(lines))
            else:
                found = None
        else:
            found = _captures(fact.compiled.search(data))
        self._found[memo] = found
        return found


def prepare(context: Mapping[str, Any]) -> Prepared:
    """The context as matching sees it: every non-``None`` value as clipped text."""
    if isinstance(context, Prepared):
        return context
    return Prepared({k: clip(as_text(v)) for k, v in context.items() if v is not None})


def _captures(found: Any) -> Captures | None:
    if found is None:
        return None
    return {
        k: v.decode("utf-8", errors="replace")
        for k, v in found.groupdict().items()
        if v is not None
    }


def _search(fact: Fact, data: bytes) -> Captures | None:
    return _captures(fact.compiled.search(data))


def anchor_lines(data: bytes, anchors: tuple[bytes, ...]) -> bytes:
    """The lines of ``data`` that hold any of ``anchors``, in order, joined by newlines.

    ``anchors`` must not contain a newline. ``b""`` when no anchor occurs.

    >>> anchor_lines(b"a 1\\nb 2\\nc 1 1\\n", (b"1",))
    b'a 1\\nc 1 1'
    """
    size = len(data)
    parts = []
    if len(anchors) == 1:  # the usual case, without the bookkeeping of several anchors
        anchor = anchors[0]
        pos = data.find(anchor)
        while pos >= 0:
            end = data.find(b"\n", pos)
            if end < 0:
                parts.append(data[data.rfind(b"\n", 0, pos) + 1 :])
                break
            parts.append(data[data.rfind(b"\n", 0, pos) + 1 : end])
            pos = data.find(anchor, end + 1)
        return b"\n".join(parts)
    spans: dict[int, int] = {}  # start -> end of each line holding an anchor
    for anchor in anchors:
        pos = data.find(anchor)
        while pos >= 0:
            end = data.find(b"\n", pos)
            if end < 0:
                end = size
            spans[data.rfind(b"\n", 0, pos) + 1] = end
            pos = data.find(anchor, end + 1)
    parts = [data[start : spans[start]] for start in sorted(spans)]
    return b"\n".join(parts)


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

ANALYSIS_VERSION = f"2/py{sys.version_info[0]}.{sys.version_info[1]}"
"""Changes with :func:`analyze` (bump the number) and with the Python whose regex parser it
reads patterns with, so analyses stored in the rule cache are redone then."""


class PatternInfo(NamedTuple):
    """What the resolver's prefilter knows about a regex without running it (see :func:`analyze`)."""

    groups: tuple[tuple[str, ...], ...]
    """Literal requirements: each a tuple of alternatives, one of which occurs in every match."""
    ignore_case: bool
    """Whether the whole pattern is case-insensitive (the literals then are too)."""
    line_local: bool
    """Whether every match lies within one line and depends on nothing beyond it.

    No part of the pattern can match a newline, and its only assertions are
    ``^``/``$`` (multi-line) and ``\\b``/``\\B``, which see a line break or the
    edge of the text on either side of a line.
    """


_NO_INFO = PatternInfo((), False, False)

# RE2 reads ``[[:alpha:]]`` as a POSIX class; Python's parser reads ``[[:alph]`` and then a
# literal ``]``. An unescaped ``[:name:]`` becomes ``\d`` (a class, never a literal) before
# Python parses the pattern, and such a pattern is not treated as line-bound.
_POSIX_CLASS = re.compile(r"(?<!\\)((?:\\\\)*)\[:\^?[A-Za-z]+:\]")

# Class items that include the newline; inside a negated class they exclude it.
_NEWLINE_CATEGORIES = {"CATEGORY_SPACE", "CATEGORY_NOT_DIGIT", "CATEGORY_NOT_WORD"}
_NO_NEWLINE_CATEGORIES = {"CATEGORY_DIGIT", "CATEGORY_WORD", "CATEGORY_NOT_SPACE"}


def _runs(items: Any) -> list[tuple[str, ...]]:
    """Literal requirements of parsed regex ``items``: groups of alternatives, one of each must occur."""
    groups: list[tuple[str, ...]] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) >= _MIN_LITERAL:
            groups.append(("".join(run),))
        run.clear()

    def walk(items: Any) -> None:
        for op, arg in getattr(items, "data", items):  # a SubPattern indexes slowly
            name = op.name
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
                if low >= 1 and len(body) == 1 and body[0][0].name == "SUBPATTERN":
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


def _class_has_newline(items: Any) -> bool:
    """Whether a parsed character class (``IN`` items) can match ``\\n``; unknown items say yes."""
    negated = False
    covers = False
    for op, arg in getattr(items, "data", items):  # a SubPattern indexes slowly
        name = op.name
        if name == "NEGATE":
            negated = True
        elif name == "LITERAL":
            covers = covers or arg == 10
        elif name == "RANGE":
            covers = covers or arg[0] <= 10 <= arg[1]
        elif name == "CATEGORY" and arg.name in _NEWLINE_CATEGORIES:
            covers = True
        elif name == "CATEGORY" and arg.name in _NO_NEWLINE_CATEGORIES:
            pass
        else:
            return True
    return not covers if negated else covers


_LINE_ASSERTIONS = {"AT_BEGINNING", "AT_END", "AT_BOUNDARY", "AT_NON_BOUNDARY"}


def _beyond_line(items: Any) -> bool:
    """Whether a match of parsed ``items`` can contain ``\\n`` or look beyond its line.

    Anything not understood says yes.
    """
    for op, arg in getattr(items, "data", items):  # a SubPattern indexes slowly
        name = op.name
        if name == "LITERAL":
            if arg == 10:
                return True
        elif name == "NOT_LITERAL":
            if arg != 10:
                return True
        elif name == "IN":
            if _class_has_newline(arg):
                return True
        elif name == "SUBPATTERN":
            if arg[2] & re.MULTILINE or _beyond_line(arg[-1]):  # (?-m:^) is the text's start
                return True
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            if _beyond_line(arg[2]):
                return True
        elif name == "BRANCH":
            if any(_beyond_line(branch) for branch in arg[1]):
                return True
        elif name == "AT":
            if arg.name not in _LINE_ASSERTIONS:  # \\A, \\Z
                return True
        else:  # ANY is dot-all under the (?s) prefix; the rest RE2 refuses anyway
            return True
    return False


_ANALYSES: dict[str, PatternInfo] = {}
_MAX_ANALYSES = 1 << 20


def analyze(pattern: str) -> PatternInfo:
    """What every match of ``pattern`` must contain, and whether matches stay within a line.

    ``groups``: each group is a tuple of alternatives of which at least one
    occurs in any match: a plain run of three or more literal characters on
    the pattern's mandatory path is a group of one; an alternation whose every
    branch has such a run is a group of those runs. ``ignore_case`` tells
    whether the whole pattern is case-insensitive. ``line_local`` is true when
    no part of the pattern can match a newline (``[^\\n]``, ``\\S``, ``\\w``,
    literals ...; not ``.``, which is dot-all here, nor ``\\s`` or ``[^"]``)
    and it asserts nothing beyond a line (no ``\\A``, ``\\z``).

    The pattern is read with Python's own regex parser; anything it cannot
    read, or any construct the walk does not understand, yields fewer groups
    and ``line_local=False``: the prefilter may check too much, never too little.
    Results are cached by pattern text.
    """
    info = _ANALYSES.get(pattern)
    if info is None:
        info = _analyze(pattern)
        if len(_ANALYSES) >= _MAX_ANALYSES:
            _ANALYSES.clear()
        _ANALYSES[pattern] = info
    return info


def _analyze(pattern: str) -> PatternInfo:
    import warnings

    text, posix = pattern, 0
    if "[:" in pattern:
        text, posix = _POSIX_CLASS.subn(lambda m: m.group(1) + "\\d", pattern)
    try:
        from re import _parser  # type: ignore[attr-defined]

        if any(s in text for s in _WARNS):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "possible nested set" and the like
                parsed = _parser.parse(text)
        else:
            parsed = _parser.parse(text)
        ignore_case = bool(parsed.state.flags & re.IGNORECASE)
        groups = sorted(set(_runs(parsed)), key=lambda g: -min(len(x) for x in g))
        line_local = not posix and not _beyond_line(parsed)
    except Exception:
        return _NO_INFO
    return PatternInfo(tuple(groups), ignore_case, line_local)


_WARNS = ("[[", "--", "&&", "~~", "||")
"""What makes Python's parser warn (about possible future set syntax)."""


def remember_analysis(pattern: str, info: PatternInfo) -> None:
    """Seed :func:`analyze`'s cache, e.g. from the rule cache (same :data:`ANALYSIS_VERSION`)."""
    if len(_ANALYSES) < _MAX_ANALYSES:
        _ANALYSES.setdefault(pattern, info)


def required_literals(pattern: str) -> tuple[tuple[tuple[str, ...], ...], bool]:
    """``(groups, ignore_case)`` of :func:`analyze`: what every match of ``pattern`` must contain."""
    info = analyze(pattern)
    return info.groups, info.ignore_case


def required_literal(pattern: str) -> tuple[str, bool] | None:
    """The longest single required literal, with the case flag; ``None`` when there is none."""
    groups, ignore_case = required_literals(pattern)
    singles = [g[0] for g in groups if len(g) == 1]
    return (max(singles, key=len), ignore_case) if singles else None
