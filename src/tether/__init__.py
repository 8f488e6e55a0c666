"""tether keeps automated work running: failures matched against rules, fixed, retried.

Public names resolve lazily, so ``import tether`` loads almost nothing; the
rule models (pydantic), RE2, the CLI and everything else load when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    from tether.rules.model import Fact, Rule
    from tether.tools import tool

__version__ = "0.1.0"

__all__ = [
    "ActionError",
    "ApprovalDenied",
    "BudgetExceeded",
    "ConfigError",
    "CycleDetected",
    "ExplorationError",
    "Fact",
    "FixContext",
    "Loop",
    "LoopStopped",
    "MCPError",
    "MCPTimeout",
    "MissingKey",
    "OutsideWorkspace",
    "PricingStale",
    "ProviderError",
    "ProviderMissing",
    "ProviderRejected",
    "ProviderUnavailable",
    "Rule",
    "RuleError",
    "StoreError",
    "SubmissionRejected",
    "Tether",
    "TetherError",
    "ToolError",
    "ToolSchemaError",
    "ToolsUnsupported",
    "UnknownProvider",
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
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tether' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
