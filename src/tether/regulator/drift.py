"""Scope drift: how far a response's keywords are from its task's.

With ``T`` the task's keyword stems and ``R`` the response's
(see :mod:`tether.regulator.tokenize`)::

    off       = R - T                      response keywords the task never mentions
    coverage  = |T & R| / |T|              how much of the task the response talks about
    drift     = |off| / |R| * (1 - coverage)

A response that rephrases the task covers it (``refactored`` meets
``refactor``), so its drift is low however much it adds; a response about
something else covers nothing and is all ``off``, so its drift is 1. An empty
task or an empty response has no drift.
"""

from __future__ import annotations

from tether.regulator.tokenize import Keywords

__all__ = ["drift"]


def drift(task: Keywords, response: Keywords) -> tuple[float, frozenset[str]] | None:
    """``(score in [0, 1], off-task stems)``, or ``None`` when either side has no keyword."""
    t = task.stems
    r = response.stems
    if not t or not r:
        return None
    shared = len(t & r)
    off = r - t
    score = (len(off) / len(r)) * (1.0 - shared / len(t))
    return score, off
