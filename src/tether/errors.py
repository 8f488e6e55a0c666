"""Every error tether raises, in one place.

The tree::

    TetherError                      anything tether itself got wrong or refused
    ├── ConfigError                  a bad setting, profile, home directory or plugin
    ├── RuleError(file, rule, field) a rule file that does not parse or validate
    ├── ActionError(action, ...)     an action that is unknown, misused, raised or timed out
    ├── ToolError                    a tool that could not be registered or called
    │   ├── ToolSchemaError          a function whose signature cannot become a JSON schema
    │   └── MCPError(server)         an MCP server that failed to start, crashed or timed out
    │       └── MCPTimeout           no answer in time (also a ``TimeoutError``)
    ├── StoreError                   the SQLite store or a record file could not be written
    ├── ProviderError(provider, model)  an LLM provider could not be reached or configured
    │   ├── UnknownProvider          a model name whose provider tether does not know
    │   ├── ProviderMissing(extra)   the provider's SDK is not installed
    │   ├── MissingKey(env)          the provider's API key is not in the environment
    │   ├── ProviderRejected(status) a request the provider refused; retrying cannot help
    │   ├── ProviderUnavailable      transient failures outlasted the retries (or a cool-down)
    │   └── ToolsUnsupported         a model (often a local one) that cannot call tools
    ├── PricingStale(as_of)          USD ceilings refused because the price table is too old
    ├── ExplorationError             the explorer could not run (no model, no key, limit reached)
    │   └── SubmissionRejected(check, field)  a submitted rule or action failed validation
    └── LoopStopped                  a governed run ended early
        ├── BudgetExceeded(limit, used, allowed)
        ├── ApprovalDenied
        └── CycleDetected

Defined in upper layers and re-exported here lazily (resolving one imports
its home module; ``import tether.errors`` itself imports nothing upward)::

    TetherError
    ├── NestedLoopError              a Loop run started inside a running Loop (tether.loop.core)
    ├── ApprovalError                an approval could not be asked or recorded (tether.loop.approval)
    ├── StateError                   a loop's saved state is unusable (tether.loop.state)
    │   ├── StateCorrupt, StateVersionError, StateLocked
    │   └── SchemaChangedError, ArtifactDriftError
    └── RegulatorError               (tether.regulator.errors)
        ├── InvalidEventError        also a ``ValueError``
        │   └── InvalidQualityError
        ├── InvalidSettingError      also a ``ValueError``
        └── SnapshotError            also a ``ValueError``
            └── SnapshotVersionError

Messages name where (file, rule, field), what went wrong, and what to do next.
Errors with keyword arguments define ``__reduce__`` so they survive pickling
across process boundaries.

None of these ever replaces the user's own failure: recovery re-raises the
caller's original exception (see ``tether.recover``).
"""

from __future__ import annotations

from typing import Any

from tether._lazy import lazy_exports

__all__ = [
    "ActionError",
    "ApprovalDenied",
    "BudgetExceeded",
    "ConfigError",
    "CycleDetected",
    "ExplorationError",
    "LoopStopped",
    "MCPError",
    "MCPTimeout",
    "MissingKey",
    "PricingStale",
    "ProviderError",
    "ProviderMissing",
    "ProviderRejected",
    "ProviderUnavailable",
    "RuleError",
    "StoreError",
    "SubmissionRejected",
    "TetherError",
    "ToolError",
    "ToolSchemaError",
    "ToolsUnsupported",
    "UnknownProvider",
]

# Errors defined above this module's layer: name -> home module. Resolved on
# first attribute access so that this module stays at the bottom of the graph.
_UPPER: dict[str, str] = {
    "NestedLoopError": "tether.loop.core",
    "ApprovalError": "tether.loop.approval",
    "StateError": "tether.loop.state",
    "StateCorrupt": "tether.loop.state",
    "StateVersionError": "tether.loop.state",
    "StateLocked": "tether.loop.state",
    "SchemaChangedError": "tether.loop.state",
    "ArtifactDriftError": "tether.loop.state",
    "RegulatorError": "tether.regulator.errors",
    "InvalidEventError": "tether.regulator.errors",
    "InvalidQualityError": "tether.regulator.errors",
    "InvalidSettingError": "tether.regulator.errors",
    "SnapshotError": "tether.regulator.errors",
    "SnapshotVersionError": "tether.regulator.errors",
}
__all__ += sorted(_UPPER)  # re-exported lazily from upper layers


__getattr__, __dir__ = lazy_exports(globals(), _UPPER)


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


class ToolSchemaError(ToolError):
    """A function cannot be a tool: a parameter without a type hint, ``*args``/``**kwargs``,
    or a hint with no JSON schema (callables, file handles). Raised at registration."""


class MCPError(ToolError):
    """An MCP server failed: it would not start, crashed, or did not answer in time.

    Attributes:
        server: the server's name as configured.
    """

    def __init__(self, problem: str, *, server: str = "") -> None:
        self.problem = problem
        self.server = server
        super().__init__(f"MCP server {server!r}: {problem}" if server else problem)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.problem,), {"server": self.server}))


class MCPTimeout(MCPError, TimeoutError):
    """An MCP call (or the server's startup) did not finish in time. Also a ``TimeoutError``,
    so :class:`~tether.tools.ToolRunner` reports it as status ``timeout``."""


class ProviderError(TetherError):
    """An LLM provider is unknown, unconfigured, or failed.

    Attributes:
        provider: the provider's name (``"anthropic"``, ``"openai-compatible"`` ...), or ``""``.
        model: the model name after the provider prefix, or ``""``.
    """

    def __init__(self, problem: str, *, provider: str = "", model: str = "") -> None:
        self.problem = problem
        self.provider = provider
        self.model = model
        where = f"{provider}/{model}" if provider and model else provider or model
        super().__init__(f"{where}: {problem}" if where else problem)

    def _kwargs(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model}

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.problem,), self._kwargs()))


class UnknownProvider(ProviderError):
    """A model name whose ``provider/`` prefix tether does not know."""


class ProviderMissing(ProviderError):
    """The provider's SDK is not installed.

    Attributes:
        extra: the tether extra that installs it (``pip install 'tether[<extra>]'``).
    """

    def __init__(
        self, problem: str, *, provider: str = "", model: str = "", extra: str = "llm"
    ) -> None:
        self.extra = extra
        super().__init__(problem, provider=provider, model=model)

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "extra": self.extra}


class MissingKey(ProviderError):
    """The provider's API key is not set.

    Attributes:
        env: the environment variables that were looked at, in order.
    """

    def __init__(
        self, problem: str, *, provider: str = "", model: str = "", env: tuple[str, ...] = ()
    ) -> None:
        self.env = tuple(env)
        super().__init__(problem, provider=provider, model=model)

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "env": self.env}


class ProviderRejected(ProviderError):
    """The provider refused the request (bad request, auth, unknown model, context too long,
    quota); sending it again unchanged cannot succeed, so it is never retried.

    Attributes:
        status: the HTTP status, or ``None``.
        kind: ``"auth"``, ``"not_found"``, ``"context_window"``, ``"quota"`` or ``"bad_request"``.
    """

    def __init__(
        self,
        problem: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        kind: str = "bad_request",
    ) -> None:
        self.status = status
        self.kind = kind
        super().__init__(problem, provider=provider, model=model)

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "status": self.status, "kind": self.kind}


class ProviderUnavailable(ProviderError):
    """Transient failures (rate limit, timeout, connection, 5xx, overload) outlasted the
    retries, or the provider is cooling down after repeated failures.

    Attributes:
        attempts: how many requests were sent before giving up (0 during a cool-down).
    """

    def __init__(
        self, problem: str, *, provider: str = "", model: str = "", attempts: int = 0
    ) -> None:
        self.attempts = attempts
        super().__init__(problem, provider=provider, model=model)

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "attempts": self.attempts}


class ToolsUnsupported(ProviderError):
    """The model cannot call tools (common with small local models behind an
    OpenAI-compatible server); pick a model with tool calling or run without tools."""


class PricingStale(ConfigError):
    """The price table is older than the allowed age and the pricing policy is ``refuse``,
    so a USD ceiling cannot be enforced honestly.

    Attributes:
        as_of: the table's date (ISO ``YYYY-MM-DD``).
    """

    def __init__(self, problem: str, *, as_of: str = "") -> None:
        self.as_of = as_of
        super().__init__(problem)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (str(self),), {"as_of": self.as_of}))


class ExplorationError(TetherError):
    """The explorer could not run: exploration is off, no model or key is configured, or the
    session's exploration limit is reached. The message says which and what to set."""


class SubmissionRejected(ExplorationError):
    """A rule (and action code) the explorer submitted failed validation; nothing was kept.

    The message goes back to the model as the tool's error, so it names the field and says
    what to change.

    Attributes:
        check: which check failed: ``"yaml"``, ``"schema"``, ``"regex"``, ``"match"``,
            ``"params"``, ``"too_broad"``, ``"duplicate"``, ``"action"``, ``"code"``,
            ``"signature"`` or ``"name"``.
        field: the offending field (``"when[0].regex"``, ``"then[1].params.path"``), or ``None``.
        problem: what is wrong and how to fix it.
    """

    def __init__(self, problem: str, *, check: str, field: str | None = None) -> None:
        self.problem = problem
        self.check = check
        self.field = field
        where = f"field {field!r}: " if field else ""
        super().__init__(f"{check} check failed: {where}{problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), (self.problem,), {"check": self.check, "field": self.field}))


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
