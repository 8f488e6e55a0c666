"""The extension points of a governed run, in one place: ``Policy``, ``WatchesEvents``,
``ApprovalRunner``, ``Summarizer``, ``GoalMetric``.

Defined (with who calls what, and when) in :mod:`tether.loop.hooks`; this module is their
public address. Importing it loads only that module and the lazy ``tether.loop`` package.
"""

from __future__ import annotations

from tether.loop.hooks import ApprovalRunner, GoalMetric, Policy, Summarizer, WatchesEvents

__all__ = ["ApprovalRunner", "GoalMetric", "Policy", "Summarizer", "WatchesEvents"]
