"""Orchestration: what happens around governed runs (goal runs, automations, memory and inbox,
skills, sub-agents, worktrees).

Every orchestrated run **is** a :class:`tether.Loop`: ceilings, NoProgress, approvals, resume,
traces and ``tether explain`` all apply. This package adds what happens before, between and
after runs, and sits above ``loop/``, ``tools/`` and ``store/`` in the layers; the
``tether agent`` command is a client of this package only.
"""

from __future__ import annotations

__all__: list[str] = []
