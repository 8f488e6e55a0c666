"""Every error tether raises, in one place.

The tree::

    TetherError                      anything tether itself got wrong or refused
    ├── ConfigError                  a bad setting, profile, home directory or plugin
    ├── RuleError(file, rule, field) a rule file that does not parse or validate
    ├── ActionError(action, ...)     an action that is unknown, misused, raised or timed out
    ├── ToolError                    a tool that could not be registered or called
    ├── StoreError                   the SQLite store or a record file could not be written
    ├── ProviderError                an LLM provider could not be reached or configured
    └── LoopStopped                  a governed run ended early
        ├── BudgetExceeded(limit, used, allowed)
        ├── ApprovalDenied
        └── CycleDetected

Messages name where (file, rule, field), what went wrong, and what to do next.
Errors with keyword arguments define ``__reduce__`` so they survive pickling
across process boundaries.

None of these ever replaces the user's own failure: recovery re-raises the
caller's original exception (see ``tether.recover``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ActionError",
    "ApprovalDenied",
    "BudgetExceeded",
    "ConfigError",
    "CycleDetected",
    "LoopStopped",
    "ProviderError",
    "RuleError",
    "StoreError",
    "TetherError",
    "ToolError",
]


class TetherError(Exception):
    """Base class of every error tether raises about itself."""


class ConfigError(TetherError):
    """A setting, profile, home directory or plugin file is unusable."""


class RuleError(TetherError):
    """A rule file that does not load.

    Attributes:
        file: the rule file (or ``"<string>"`` for inline YAML).
        rule: the rule's name when it could be read, else ``None``.
        field: dotted path of the offending field (``"when.1.regex"``), else ``None``.
        problem: what is wrong and, where possible, how to fix it.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        rule: str | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.rule = rule
        self.field = field
        where = []
        if file:
            where.append(file)
        if rule:
            where.append(f"rule {rule!r}")
        if field:
            where.append(f"field {field!r}")
        super().__init__(f"{': '.join(where)}: {problem}" if where else problem)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.problem,), self._kwargs()))

    def _kwargs(self) -> dict[str, Any]:
        return {"file": self.file, "rule": self.rule, "field": self.field}


class ActionError(TetherError):
    """An action is unknown, got bad params, raised, or overran its timeout.

    Attributes:
        action: the action's registered name.
        rule: the rule whose step called it, if any.
        step: 1-based index of the step in the rule's ``then``.
        param: the offending parameter, when the problem is one parameter.
    """

    def __init__(
        self,
        problem: str,
        *,
        action: str,
        rule: str | None = None,
        step: int | None = None,
        param: str | None = None,
    ) -> None:
        self.problem = problem
        self.action = action
        self.rule = rule
        self.step = step
        self.param = param
        where = []
        if rule:
            where.append(f"rule {rule!r}")
        if step is not None:
            where.append(f"step {step}")
        where.append(f"action {action!r}")
        if param:
            where.append(f"param {param!r}")
        super().__init__(f"{', '.join(where)}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {"action": self.action, "rule": self.rule, "step": self.step, "param": self.param}
        return (_rebuild, (type(self), (self.problem,), kwargs))


class ToolError(TetherError):
    """A tool could not be registered (bad signature) or called."""


class StoreError(TetherError):
    """The store (``tether.db``) or a record file could not be read or written."""


class ProviderError(TetherError):
    """An LLM provider is unknown, unconfigured, or failed."""


class LoopStopped(TetherError):
    """A governed run ended before reaching its goal."""


class BudgetExceeded(LoopStopped):
    """A ceiling was reached.

    Attributes:
        limit: which ceiling (``"tokens"``, ``"iterations"``, ``"wall_clock_s"``, ``"cost_usd"``).
        used: how much had been used when the check ran.
        allowed: the ceiling's value.
    """

    def __init__(self, limit: str, used: float, allowed: float) -> None:
        self.limit = limit
        self.used = used
        self.allowed = allowed
        super().__init__(f"{limit} ceiling reached: used {used:g} of {allowed:g}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.limit, self.used, self.allowed))


class ApprovalDenied(LoopStopped):
    """A step that needed approval was denied."""


class CycleDetected(LoopStopped):
    """Recovery saw a failure it had already seen at an earlier level."""


def _rebuild(cls: type[Exception], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Exception:
    return cls(*args, **kwargs)
