"""The engine's answers to recovery: applying a rule where the job failed, finding candidates,
keeping records, exploring, telling displays.

:class:`EngineWiring` implements :class:`~tether.recover.drive.EngineServices` over the parts
of an engine (its public members only, named by :class:`EngineParts`), so that ``recover/``
never sees the engine and the engine never grows the answers itself. ``Tether`` builds one
wiring and hands it to ``@mark`` and to every command it recovers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tether._types import Captures, Context
    from tether.actions.registry import ActionRegistry
    from tether.actions.run import RuleRun
    from tether.config import Config
    from tether.explore.session import ExploreSession
    from tether.llm.client import LLM
    from tether.recover.events import RecoveryEvent
    from tether.recover.model import Attempt, RecoverySettings
    from tether.recover.requests import ApplyRule, Explore, Explored
    from tether.resolve import Resolver
    from tether.rules.book import Match, RuleBook
    from tether.rules.model import Rule
    from tether.store.records import Records
    from tether.tools import ToolRegistry

__all__ = ["EngineParts", "EngineWiring", "warn"]


def warn(message: str) -> None:
    """A ``tether:`` runtime warning (what the user sees when tether's own records fail)."""
    warnings.warn(f"tether: {message}", RuntimeWarning, stacklevel=3)


class EngineParts(Protocol):
    """What the wiring reads of an engine (all public on :class:`tether.Tether`)."""

    @property
    def home(self) -> Path: ...
    @property
    def actions(self) -> ActionRegistry: ...
    @property
    def tools(self) -> ToolRegistry: ...
    @property
    def sleep(self) -> Callable[[float], None]: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def on_event(self) -> Callable[[RecoveryEvent], None] | None: ...
    @property
    def config(self) -> Config: ...
    @property
    def llm(self) -> LLM | None: ...
    @property
    def resolver(self) -> Resolver: ...
    @property
    def exploring(self) -> ExploreSession: ...

    def load(self) -> RuleBook: ...
    def settings(self, **overrides: Any) -> RecoverySettings: ...
    def promote(self, rule: Rule) -> None: ...


class EngineWiring:
    """An engine seen as :class:`~tether.recover.drive.EngineServices`.

    Args:
        engine: the engine's parts.
        records: where attempts are kept (:class:`~tether.store.records.Records`).
        explorer: answers :class:`~tether.recover.requests.Explore` instead of the engine's
            exploration session (``Tether(explorer=…)``, the test and host seam).
    """

    def __init__(
        self,
        engine: EngineParts,
        records: Records,
        explorer: Callable[[Explore], Explored] | None = None,
    ) -> None:
        self.engine = engine
        self.records = records
        self.explorer = explorer

    @property
    def sleep(self) -> Callable[[float], None]:
        return self.engine.sleep

    @property
    def clock(self) -> Callable[[], float]:
        return self.engine.clock

    def settings(self, **overrides: Any) -> RecoverySettings:
        return self.engine.settings(**overrides)

    def exploration_on(self) -> bool:
        return bool(self.engine.config.engine.explore)

    def prepare(self) -> None:
        self.engine.load()

    def notice(self, reason: str) -> None:
        self.engine.exploring.notice(reason)

    # -- applying rules ---------------------------------------------------------------------------

    def apply_rule(self, request: ApplyRule) -> RuleRun:
        """Run the matched rule where the job failed (``context["cwd"]``), then say so.

        A rule with steps is not run when that directory is unknown (``cwd_unknown``): a fix is
        never made in the wrong place. Actions that declare ``ctx``/``cwd``/``workspace`` are
        given the directory; the others run one at a time inside it
        (:func:`tether.actions.workdir.working_directory`).
        """
        from tether.actions.run import RuleRun
        from tether.recover.events import RuleApplied

        rule, context = request.match.rule, request.context
        unknown = context.get("cwd_unknown")
        if unknown and (rule.then or rule.kind == "llm"):
            run = RuleRun(
                rule.name,
                error=f"not applied: tether cannot tell where the failing step ran ({unknown}), "
                "and a fix is never made in the wrong place",
            )
        elif context.get("cwd") and not self.knows_directory(rule):
            from tether.actions.workdir import working_directory

            with working_directory(Path(str(context["cwd"]))):
                run = self.apply(rule, request.match.captures, context)
        else:  # the job's directory is passed to every action: no process-wide state
            run = self.apply(rule, request.match.captures, context)
        steps = [(s.action, s.ok, s.result if s.ok else s.error) for s in run.steps]
        self.emit(RuleApplied(run.rule, steps, run.error))
        return run

    def apply(self, rule: Rule, captures: Captures, context: Context) -> RuleRun:
        """Run ``rule``'s steps (or its governed conversation, for an LLM rule) for ``context``;
        action errors and timeouts are in the result, never raised."""
        engine = self.engine
        engine.load()  # actions and tools in <home>/actions are discovered with the rules
        if rule.kind == "llm":
            from tether.explore.llm_rule import run_llm_rule
            from tether.tools import default_tools

            return run_llm_rule(
                rule,
                captures,
                context,
                llm=lambda: engine.llm,
                tools=(engine.tools, default_tools),
                home=engine.home,
                workdir=Path(str(context.get("cwd") or Path.cwd())),
            )
        from tether.actions.run import run_rule

        timeout_s = engine.config.engine.action_timeout_s
        return run_rule(rule, captures, context, engine.actions, timeout_s=timeout_s)

    def knows_directory(self, rule: Rule) -> bool:
        """Whether every step of ``rule`` is told the job's directory (no chdir needed); an LLM
        rule is not: the model calls the user's tools, which may use relative paths."""
        from tether.actions.run import knows_directory

        if rule.kind == "llm":
            return False
        self.engine.load()
        return knows_directory(rule, self.engine.actions)

    # -- the rest of the flow's requests ----------------------------------------------------------

    def explore(self, request: Explore) -> Explored:
        if self.explorer is not None:
            return self.explorer(request)
        return self.engine.exploring.answer(request)

    def candidates(
        self, context: Context, settings: RecoverySettings, exclude: list[str]
    ) -> list[Match]:
        return self.engine.resolver.resolve(
            context,
            rules=settings.rules,
            tags=settings.tags,
            collection=settings.collection,
            fallback=settings.fallback,
            exclude=exclude,
        )

    def record(self, rule: Rule, attempt: Attempt, observation: dict[str, Any]) -> None:
        succeeded = attempt.outcome in ("success", "progress")
        self.records.attempt(rule.name, succeeded, observation)

    def promote(self, rule: Rule) -> None:
        self.engine.promote(rule)

    def reject(self, rule: Rule, reason: str) -> str:
        try:
            return self.engine.exploring.reject(rule, reason)
        except Exception as exc:  # a broken record must not end recovery
            warn(f"could not reject rule {rule.name!r} cleanly: {exc}")
            return f"rule {rule.name!r} did not fix the failure ({reason})"

    def emit(self, event: RecoveryEvent) -> None:
        """Hand ``event`` to ``on_event``; a watcher that raises is warned about, never fatal."""
        watcher = self.engine.on_event
        if watcher is not None:
            try:
                watcher(event)
            except Exception as exc:
                warn(f"on_event callback raised: {exc}")
