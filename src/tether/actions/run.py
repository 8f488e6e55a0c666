"""Running a rule's steps: fill placeholders, check params, call each action under a timeout.

Nothing an action does escapes as tether's own crash: its exception, or a
timeout, becomes a failed :class:`StepResult` with the error text recorded.

Timeouts: each action runs in a worker thread that the caller waits on for at
most ``timeout_s``. Python cannot kill a thread, so an action that overruns is
*abandoned*: reported as timed out while its thread may still finish in the
background (daemon, so it never holds the process open). Actions that call
subprocesses should pass their own timeout to them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether._bridge import call_in_thread
from tether._types import Captures, Context
from tether.actions.fix import FixContext
from tether.actions.registry import FIX_PARAM, ActionRegistry, ActionSpec
from tether.errors import ActionError
from tether.rules.lint import placeholders
from tether.rules.model import Rule

__all__ = [
    "DEFAULT_ACTION_TIMEOUT_S",
    "RuleRun",
    "StepResult",
    "knows_directory",
    "render_params",
    "run_rule",
]

DEFAULT_ACTION_TIMEOUT_S = 300.0
"""Default per-step timeout in seconds: generous, since fixes may build or download."""


@dataclass
class StepResult:
    """What one step did: its action, the params it got, and how it ended."""

    action: str
    params: dict[str, Any]
    ok: bool
    result: Any = None
    error: str | None = None
    duration_s: float = 0.0


@dataclass
class RuleRun:
    """The outcome of running a rule's steps top to bottom (stopping at the first failure).

    Attributes:
        rule: the rule's name.
        steps: what each step that ran did.
        error: why the run stopped early (``None``: every step ran).
        fix: the journal the steps' actions made their changes through (``None`` when no
            step declared ``ctx``).
        rolled_back: what was undone (a step failed halfway, or :meth:`rollback` ran).
    """

    rule: str
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None
    fix: FixContext | None = None
    rolled_back: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step ran and none failed."""
        return self.error is None

    @property
    def changes(self) -> list[str]:
        """What the steps changed through their :class:`FixContext`, in order."""
        return list(self.fix.changes) if self.fix is not None else []

    def rollback(self) -> list[str]:
        """Undo what the steps changed (newest first); returns what was undone. Never raises."""
        undone = self.fix.rollback() if self.fix is not None else []
        self.rolled_back += undone
        return undone


def _fill(value: Any, values: Mapping[str, Any], missing: list[str]) -> Any:
    if isinstance(value, str):
        names = placeholders(value)
        if not names:
            return value
        if len(names) == 1 and value == "{" + names[0] + "}":
            if names[0] in values:
                return values[names[0]]
            missing.append(names[0])
            return value
        out = value
        for name in names:
            if name in values:
                out = out.replace("{" + name + "}", str(values[name]))
            else:
                missing.append(name)
        return out
    if isinstance(value, dict):
        return {k: _fill(v, values, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values, missing) for v in value]
    return value


def render_params(
    params: Mapping[str, Any],
    captures: Captures,
    context: Context,
    *,
    action: str,
    rule: str | None = None,
    step: int | None = None,
) -> dict[str, Any]:
    """Fill ``{placeholder}`` fields from ``captures`` first, then ``context``.

    A param that is exactly one placeholder takes the value itself (so an ``int``
    context value stays an ``int``); otherwise values are formatted into the text.

    Raises:
        ActionError: a placeholder has neither a capture nor a context value.
    """
    values = {**context, **captures}
    out = {}
    for name, value in params.items():
        missing: list[str] = []
        out[name] = _fill(value, values, missing)
        if missing:
            raise ActionError(
                f"placeholder {{{missing[0]}}} has no capture and no context value",
                action=action,
                rule=rule,
                step=step,
                param=name,
            )
    return out


def _call(spec: ActionSpec, params: dict[str, Any], timeout_s: float) -> Any:
    """Run one action in a worker thread, waiting at most ``timeout_s``.

    Ctrl-C (``KeyboardInterrupt`` in the waiting thread) lets the step finish, up to its
    timeout, then re-raises, so a fix stops after the current step; a second Ctrl-C stops
    the wait at once.
    """

    def target() -> Any:
        if spec.is_async:
            return asyncio.run(spec.fn(**params))
        return spec.fn(**params)

    outcome = call_in_thread(
        target, name=f"tether-action-{spec.name}", timeout_s=timeout_s, finish_on_interrupt=True
    )
    if outcome is None:
        raise TimeoutError(
            f"timed out after {timeout_s:g}s (the action was abandoned and may still be running)"
        )
    return outcome.unwrap()


def knows_directory(rule: Rule, registry: ActionRegistry) -> bool:
    """True when every step of ``rule`` runs an action that is given the job's directory
    (:attr:`ActionSpec.knows_directory`), so the rule needs no process-wide working directory.
    A step whose action is unknown counts as not knowing (it fails before anything runs)."""
    for step in rule.then:
        spec = registry.get(step.action)
        if spec is None or not spec.knows_directory:
            return False
    return True


def run_rule(
    rule: Rule,
    captures: Captures,
    context: Context,
    registry: ActionRegistry,
    *,
    timeout_s: float = DEFAULT_ACTION_TIMEOUT_S,
) -> RuleRun:
    """Run ``rule.then`` top to bottom; return what each step did.

    An action parameter the step does not set is taken from a capture or
    context value of the same name, when there is one (so an action taking
    ``workspace`` gets the context's ``workspace``); an action parameter ``cwd`` or
    ``workspace`` left unset gets the job's directory, ``context["cwd"]``. Every step's action is
    looked up and its params filled and checked *before* the first step runs, so a misspelt
    action or bad param never leaves a half-applied fix. An action declaring ``ctx`` gets the
    run's :class:`~tether.actions.fix.FixContext` for ``context["cwd"]`` (else the current
    directory), shared by the rule's steps. A step that raises or times out ends the run and
    what the earlier steps changed through ``ctx`` is rolled back; its error is in
    ``RuleRun.error`` and never propagates. ``KeyboardInterrupt`` (Ctrl-C, or a signal
    turned into one) stops after the current step, rolls back and re-raises; so does
    ``SystemExit``.
    """
    run = RuleRun(rule.name)
    prepared: list[tuple[ActionSpec, dict[str, Any]]] = []
    try:
        for number, step in enumerate(rule.then, start=1):
            spec = registry.get(step.action)
            if spec is None:
                known = ", ".join(registry.names()[:12]) or "none registered"
                raise ActionError(
                    f"no such action (known: {known}); define it with @action({step.action!r}) "
                    "in <home>/actions/",
                    action=step.action,
                    rule=rule.name,
                    step=number,
                )
            params = render_params(
                step.params, captures, context, action=step.action, rule=rule.name, step=number
            )
            for name in spec.parameters():
                if name not in params:
                    if name in captures:
                        params[name] = captures[name]
                    elif name in context:
                        params[name] = context[name]
                    elif name in ("cwd", "workspace") and context.get("cwd"):
                        params[name] = str(context["cwd"])
            prepared.append((spec, spec.check(params, rule=rule.name, step=number)))
    except ActionError as exc:
        run.error = str(exc)
        return run

    if any(spec.wants_fix_context for spec, _ in prepared):
        run.fix = FixContext(str(context.get("cwd") or os.getcwd()), context)
    for number, (spec, params) in enumerate(prepared, start=1):
        started = time.perf_counter()
        if spec.wants_fix_context:
            params = {**params, FIX_PARAM: run.fix}
        try:
            result = _call(spec, params, timeout_s)
        except (KeyboardInterrupt, SystemExit):
            run.rollback()
            raise
        except BaseException as exc:
            message = (
                f"{type(exc).__name__}: {exc}" if not isinstance(exc, TimeoutError) else str(exc)
            )
            run.steps.append(
                StepResult(
                    spec.name,
                    params,
                    False,
                    error=message,
                    duration_s=time.perf_counter() - started,
                )
            )
            run.error = f"rule {rule.name!r}, step {number}, action {spec.name!r}: {message}"
            run.rollback()
            return run
        run.steps.append(
            StepResult(
                spec.name, params, True, result=result, duration_s=time.perf_counter() - started
            )
        )
    return run
