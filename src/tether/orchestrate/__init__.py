"""Orchestration: what happens around governed runs (goal runs, automations, memory and inbox,
skills, sub-agents, worktrees).

Every orchestrated run **is** a :class:`tether.Loop`: ceilings, NoProgress, approvals, resume,
traces and ``tether explain`` all apply. This package adds what happens before, between and
after runs, and sits above ``loop/``, ``tools/`` and ``store/`` in the layers; the
``tether agent`` command is a client of this package only.

Names resolve lazily (``import tether.orchestrate`` loads none of the modules behind them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tether.orchestrate.automations import (
        Automation,
        Budget,
        automation_from_mapping,
        load_automation,
        load_automations,
        save_automation,
    )
    from tether.orchestrate.autorun import loop_runner
    from tether.orchestrate.errors import AutomationConfigError, OrchestrationError
    from tether.orchestrate.inbox import Inbox, InboxItem
    from tether.orchestrate.schedule import Cron, Every
    from tether.orchestrate.scheduler import RunRecord, Scheduler, Slot, SlotRecord, history

_LAZY = {
    "Automation": "automations",
    "AutomationConfigError": "errors",
    "Budget": "automations",
    "automation_from_mapping": "automations",
    "Cron": "schedule",
    "Every": "schedule",
    "Inbox": "inbox",
    "InboxItem": "inbox",
    "OrchestrationError": "errors",
    "RunRecord": "scheduler",
    "Scheduler": "scheduler",
    "Slot": "scheduler",
    "SlotRecord": "scheduler",
    "history": "scheduler",
    "load_automation": "automations",
    "load_automations": "automations",
    "loop_runner": "autorun",
    "save_automation": "automations",
}

__all__ = [
    "Automation",
    "AutomationConfigError",
    "Budget",
    "Cron",
    "Every",
    "Inbox",
    "InboxItem",
    "OrchestrationError",
    "RunRecord",
    "Scheduler",
    "Slot",
    "SlotRecord",
    "automation_from_mapping",
    "history",
    "load_automation",
    "load_automations",
    "loop_runner",
    "save_automation",
]


def __getattr__(name: str) -> Any:
    """Resolve a public name from its module on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tether.orchestrate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tether.orchestrate.{module}"), name)
    globals()[name] = value
    return value
