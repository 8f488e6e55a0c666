"""tether keeps automated work running: failures matched against rules, fixed, retried.

Public names resolve lazily, so ``import tether`` loads almost nothing; the
rule models (pydantic), RE2, the CLI and everything else load when first used.
Every name in ``__all__`` reports ``__module__ == "tether"`` (the errors at
import, the lazy names when first resolved), so reprs, tracebacks and docs show
the public path ``tether.Loop`` rather than where the class happens to live.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

from tether._lazy import lazy_exports
from tether.errors import (
    ActionError,
    ApprovalDenied,
    BudgetExceeded,
    ConfigError,
    CycleDetected,
    ExplorationError,
    LoopStopped,
    MCPError,
    MCPTimeout,
    MissingKey,
    PricingStale,
    ProviderError,
    ProviderMissing,
    ProviderRejected,
    ProviderUnavailable,
    RuleError,
    StoreError,
    SubmissionRejected,
    TetherError,
    ToolError,
    ToolSchemaError,
    ToolsUnsupported,
    UnknownProvider,
)

if TYPE_CHECKING:
    from tether.actions.fix import FixContext, OutsideWorkspace
    from tether.actions.registry import action
    from tether.engine import Tether
    from tether.loop import Loop
    from tether.protocols import ApprovalRunner, GoalMetric, Policy, Summarizer, WatchesEvents
    from tether.rules.model import Fact, Rule
    from tether.tools import tool

__version__ = "0.1.0"

__all__ = [
    "ActionError",
    "ApprovalDenied",
    "ApprovalRunner",
    "BudgetExceeded",
    "ConfigError",
    "CycleDetected",
    "ExplorationError",
    "Fact",
    "FixContext",
    "GoalMetric",
    "Loop",
    "LoopStopped",
    "MCPError",
    "MCPTimeout",
    "MissingKey",
    "OutsideWorkspace",
    "Policy",
    "PricingStale",
    "ProviderError",
    "ProviderMissing",
    "ProviderRejected",
    "ProviderUnavailable",
    "Rule",
    "RuleError",
    "StoreError",
    "SubmissionRejected",
    "Summarizer",
    "Tether",
    "TetherError",
    "ToolError",
    "ToolSchemaError",
    "ToolsUnsupported",
    "UnknownProvider",
    "WatchesEvents",
    "action",
    "tool",
]

_LAZY = {
    "Tether": "tether.engine",
    "Loop": "tether.loop",
    "Rule": "tether.rules.model",
    "Fact": "tether.rules.model",
    "action": "tether.actions.registry",
    "FixContext": "tether.actions.fix",
    "OutsideWorkspace": "tether.actions.fix",
    "tool": "tether.tools",
    "ApprovalRunner": "tether.protocols",
    "GoalMetric": "tether.protocols",
    "Policy": "tether.protocols",
    "Summarizer": "tether.protocols",
    "WatchesEvents": "tether.protocols",
}


def _publish(value: Any) -> Any:
    """``value`` with ``__module__`` set to ``"tether"`` when it is a class or a function."""
    if isinstance(value, type | types.FunctionType):
        value.__module__ = "tether"
    return value


for _name in __all__:
    if _name in globals():
        _publish(globals()[_name])
del _name


__getattr__, __dir__ = lazy_exports(globals(), _LAZY, publish=_publish)
