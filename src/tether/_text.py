"""Cutting text to a size, with a marker where something was dropped.

Two families, by what the limit counts:

- :func:`tail` and :func:`head_and_tail` keep ``limit`` characters of the text and add a
  marker that says how many were dropped (``{omitted}`` in the marker is replaced by the
  count), for text a model or a person reads in full: command output, tracebacks, tool
  results. Failures print last, so the end is what is kept.
- :func:`shorten` fits the result, the marker included, in ``limit`` characters, for one
  line of a display (an ellipsis marks the cut).

Each function returns ``text`` itself when it is short enough. Only the standard library
is used, so every layer may import this module.
"""

from __future__ import annotations

__all__ = ["EARLIER_OMITTED", "MIDDLE_OMITTED", "head_and_tail", "one_line", "shorten", "tail"]

EARLIER_OMITTED = "[... {omitted} earlier characters omitted ...]\n"
""":func:`tail`'s default marker; ``{omitted}`` becomes the number of characters dropped."""

MIDDLE_OMITTED = "\n[... {omitted} characters omitted ...]\n"
""":func:`head_and_tail`'s default marker; ``{omitted}`` becomes the number of characters dropped."""


def _mark(marker: str, omitted: int) -> str:
    return marker.replace("{omitted}", str(omitted))


def tail(text: str, limit: int, *, marker: str = EARLIER_OMITTED) -> str:
    """The last ``limit`` characters of ``text``, after ``marker`` when some were dropped.

    >>> tail("abcdef", 4)
    '[... 2 earlier characters omitted ...]\\ncdef'
    >>> tail("abcdef", 4, marker="...")
    '...cdef'

    Args:
        text: any text.
        limit: characters of ``text`` kept (the marker comes on top), at least 0.
        marker: put before what is kept; ``{omitted}`` in it becomes the count dropped.
    """
    if len(text) <= limit:
        return text
    return _mark(marker, len(text) - limit) + (text[-limit:] if limit else "")


def head_and_tail(text: str, limit: int, *, head: int, marker: str = MIDDLE_OMITTED) -> str:
    """The first ``head`` and the last ``limit - head`` characters of ``text``, ``marker`` between.

    >>> head_and_tail("a" * 10 + "b" * 10, 8, head=2)
    'aa\\n[... 12 characters omitted ...]\\nbbbbbb'

    Args:
        text: any text.
        limit: characters of ``text`` kept in all (the marker comes on top).
        head: how many of them come from the start (0 to ``limit``).
        marker: put where the middle was; ``{omitted}`` in it becomes the count dropped.
    """
    if len(text) <= limit:
        return text
    rest = limit - head
    end = text[-rest:] if rest else ""
    return text[:head] + _mark(marker, len(text) - limit) + end


def shorten(text: str, limit: int, *, marker: str = "…", middle: bool = False) -> str:
    """``text`` in at most ``limit`` characters, ``marker`` included where it was cut.

    >>> shorten("abcdefghij", 6)
    'abcde…'
    >>> shorten("abcdefghij", 6, marker="...")
    'abc...'
    >>> shorten("src/pkg/module/file.py", 12, middle=True)
    'src…/file.py'

    Args:
        text: any text.
        limit: the most characters of the result (at least ``len(marker)``).
        marker: what stands for the part cut.
        middle: cut the middle (a third of what is kept comes before the marker, the rest
            after: paths keep their file names) instead of the end.
    """
    if len(text) <= limit:
        return text
    keep = limit - len(marker)
    if not middle:
        return text[:keep] + marker
    head = keep // 3
    return text[:head] + marker + text[len(text) - (keep - head) :]


def one_line(text: str, limit: int, *, middle: bool = False) -> str:
    """``text`` with its white space folded to single spaces, then cut by :func:`shorten`."""
    return shorten(" ".join(text.split()), limit, middle=middle)
