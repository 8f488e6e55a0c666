"""``Tether``: the object users hold (the seed's engine).

Example::

    from tether import Tether

    t = Tether(home=".tether")          # or TETHER_HOME, or ./.tether

    @t.action("clear_cache")
    def clear_cache(path: str) -> None: ...

    @t.mark(context_from=lambda job, exc: {"stderr": exc.stderr}, max_retries=2)
    def build(job): ...

Nothing is read from disk until a failure needs it: constructing an engine
and marking functions is free, and a marked function that does not raise
pays one plain wrapper call.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from tether._types import ENVIRONMENT_TAG, Context, Seconds, to_seconds
from tether.actions.registry import ActionRegistry, default_registry
from tether.errors import ConfigError, StoreError, TetherError
from tether.tools import DEFAULT_TOOL_TIMEOUT_S, ToolRegistry

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from tether.actions.run import RuleRun
    from tether.config import Config
    from tether.explore.session import ExploreDeps, ExploreSession
    from tether.llm.client import LLM
    from tether.process.command import CommandResult
    from tether.recover.loop import (
        Explore,
        Explored,
        Outcome,
        RecoveryEvent,
        RecoverySettings,
    )
    from tether.recover.mark import Marked, MarkOptions
    from tether.recover.shell import CommandJob
    from tether.resolve import NearMiss, Resolver
    from tether.rules.book import RuleBook
    from tether.rules.model import Rule
    from tether.store import RuleStats, Store
    from tether.tools.tool import Tool
    from tether.wiring import EngineWiring

__all__ = ["ENVIRONMENT_TAG", "Tether", "resolve_home"]

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The home directory: ``home``, else ``$TETHER_HOME``, else the nearest ``.tether/`` walking
    up from the working directory (as git and ruff find theirs), else ``./.tether``; absolute.

    The rule lives in :func:`tether.home.resolve_home`; this is its public name.
    """
    from tether.home import resolve_home as resolve

    return resolve(home)


class Tether:
    """Rules, actions and recovery for one home directory.

    Args:
        home: where rules, actions and records live (see :func:`resolve_home`).
        starter_rules: load the rule pack shipped with tether (``None``: from config, default on).
        allow_environment_changes: allow starter rules tagged ``changes-environment``.
        max_retries: default rules tried per error by ``mark``/``run_command``.
        max_depth: default levels of cascading errors chased.
        action_timeout_s: per-step timeout in seconds (or ``timedelta``).
        strict: raise the first rule/action load error instead of warning and skipping.
        strict_config: a broken ``config.yaml`` raises :class:`~tether.errors.ConfigError`
            (the default); ``False`` warns loudly and uses the defaults, so that a wrapped job
            that passes is not turned red by tether's own configuration (``tether run``
            without ``--strict``).
        sleep: how to wait (seconds); tests pass a recorder so backoff never waits.
        clock: monotonic time source in seconds.
        on_event: called with each :class:`~tether.recover.loop.RecoveryEvent` (displays).
        llm: the model for exploration and LLM-action rules: ``"provider/model"``, a
            pydantic-ai model, a :class:`tether.testing.ScriptedModel` or an
            :class:`~tether.llm.LLM` (default: ``engine.llm`` from ``config.yaml``).
        explorer: what answers the recovery loop's
            :class:`~tether.recover.loop.Explore` requests: ``(Explore) -> Explored``
            (default: this engine's :attr:`exploring` session, which runs the model). The seam
            for tests and for hosts with their own explorer, as httpx's ``transport=``.
    """

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        starter_rules: bool | None = None,
        allow_environment_changes: bool | None = None,
        max_retries: int | None = None,
        max_depth: int | None = None,
        action_timeout_s: Seconds | None = None,
        strict: bool = False,
        strict_config: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[RecoveryEvent], None] | None = None,
        llm: str | LLM | Any = None,
        explorer: Callable[[Explore], Explored] | None = None,
    ) -> None:
        from tether.store.homefiles import HomeFiles
        from tether.store.records import Records

        self.home = resolve_home(home)
        self.files = HomeFiles(self.home)
        """Every write under the home goes through it (rules, actions, archive, observations)."""
        self._explorer = explorer
        self._llm_arg = llm
        self._llm: LLM | None = None
        self._overrides: dict[str, Any] = {
            "starter_rules": starter_rules,
            "allow_environment_changes": allow_environment_changes,
            "max_retries": max_retries,
            "max_depth": max_depth,
            "action_timeout_s": to_seconds(action_timeout_s)
            if action_timeout_s is not None
            else None,
        }
        self.strict = strict
        self.strict_config = strict_config
        self.config_error: ConfigError | None = None
        """The problem with ``config.yaml`` when ``strict_config`` is off and defaults are in use."""
        self.sleep = sleep
        self.clock = clock
        self.on_event = on_event
        self.actions = ActionRegistry(parent=default_registry)
        self.tools = ToolRegistry()
        self.load_errors: list[TetherError] = []
        self._config: Config | None = None
        self._book: RuleBook | None = None
        self._resolver: Resolver | None = None
        self._store: Store | None = None
        self._lock = threading.RLock()
        self._exploring: ExploreSession | None = None
        self._recovery: EngineWiring | None = None
        self._records = Records(lambda: self.store, self.files, self._warn)

    # -- configuration -------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        """Settings from ``<home>/config.yaml`` with constructor arguments applied over them.

        Raises:
            ConfigError: the config file is malformed (only with ``strict_config``).
        """
        if self._config is None:
            from tether.config import Config, load_config

            try:
                config = load_config(self.home)
            except ConfigError as exc:
                if self.strict_config:
                    raise
                self.config_error = exc
                self._warn(
                    f"{exc}; using the default settings (tether run --strict makes this an error)"
                )
                config = Config()
            updates = {k: v for k, v in self._overrides.items() if v is not None}
            engine = config.engine.model_copy(update=updates)
            self._config = config.model_copy(update={"engine": engine})
        return self._config

    # -- rules -----------------------------------------------------------------------------------

    @property
    def book(self) -> RuleBook:
        """Every rule in force: the home's, then the starter pack's not overridden by name."""
        if self._book is None:
            with self._lock:
                if self._book is None:
                    self._book = self._load()
        return self._book

    def load(self) -> RuleBook:
        """Read rules and actions now (otherwise they are read on first need); returns the book."""
        return self.book

    def _load(self) -> RuleBook:
        from tether.starter.in_force import rules_in_force

        book, errors = rules_in_force(
            self.home,
            self.config.engine,
            self.actions,
            cache=self._cache(),
            strict_config=self.strict_config,
        )
        if errors and self.strict:
            raise errors[0]
        for error in errors:
            warnings.warn(f"tether: skipped: {error}", RuntimeWarning, stacklevel=4)
        self.load_errors = errors
        return book

    def _cache(self) -> Store | None:
        if not self.home.is_dir():  # reading rules never creates a home
            return None
        try:
            store = self.store
            store.open()
        except StoreError:
            return None
        return store

    def reload(self) -> None:
        """Forget loaded rules and config; the next use reads the home again."""
        with self._lock:
            self._book = None
            self._resolver = None
            self._config = None

    @property
    def resolver(self) -> Resolver:
        """The :class:`~tether.resolve.Resolver` over :attr:`book`."""
        if self._resolver is None or self._resolver.book is not self.book:
            from tether.resolve import Resolver

            self._resolver = Resolver(self.book)
        return self._resolver

    def add_rule(self, rule: Rule, *, ephemeral: bool = True) -> Rule:
        """Put ``rule`` in force in this process.

        An ephemeral rule is promoted (written to ``<home>/rules/<name>.rule.yaml``)
        after its first verified success; a permanent one is written now.

        Raises:
            StoreError: a permanent rule could not be written.
        """
        if ephemeral:
            rule.placed(ephemeral=True)
        else:
            rule.placed(source=self.files.write_rule(rule))
        self.book.add(rule)
        return rule

    def promote(self, rule: Rule) -> None:
        """Make a verified ephemeral rule permanent (no-op for permanent rules).

        An explored rule's action file is written first (``<home>/actions/``), then the
        rule (``<home>/rules/``), each atomically. A failure to write is warned about.
        """
        try:
            if self._exploring is not None and self._exploring.promote(rule):
                return
            if rule.ephemeral:
                rule.placed(source=self.files.write_rule(rule))
        except (OSError, TetherError) as exc:
            self._warn(f"could not promote rule {rule.name!r}: {exc}")

    def resolve(
        self,
        context: Context,
        *,
        rules: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        collection: str | None = "default",
        fallback: bool = True,
    ) -> list[Rule]:
        """The rules whose facts all hold for ``context``: named ones, tagged ones, then the rest.

        Args:
            context: flat mapping of the failure (``stderr``, ``exit_code`` ...).
            rules: rule names to put first, in this order.
            tags: rules with any of these tags come next.
            collection: collection for tags and fallback (``None``: all collections).
            fallback: include every other matching rule of the collection.
        """
        matches = self.resolver.resolve(
            context, rules=rules, tags=tags, collection=collection, fallback=fallback
        )
        return [m.rule for m in matches]

    def near_misses(self, context: Context, k: int = 5) -> list[NearMiss]:
        """Up to ``k`` rules that do not hold but read like the failure (never executed)."""
        return self.resolver.near_misses(context, k)

    def execute_rule(self, rule: Rule, context: Context) -> RuleRun:
        """Run ``rule``'s steps for ``context`` (captures come from matching it).

        A rule whose facts do not hold is not run: the result carries the reason.
        Action errors and timeouts are recorded in the result, never raised.
        """
        from tether.actions.run import RuleRun
        from tether.rules.match import match_context

        captures = match_context(rule, context)
        if captures is None:
            return RuleRun(rule.name, error=f"rule {rule.name!r} does not hold for this context")
        return self._services().apply(rule, captures, context)

    # -- exploration ------------------------------------------------------------------------------

    @property
    def exploring(self) -> ExploreSession:
        """This engine's exploration state: session cache, limit, rules awaiting verification."""
        if self._exploring is None:
            from tether.explore.session import ExploreSession

            self._exploring = ExploreSession(self._explore_deps())
        return self._exploring

    def _explore_deps(self) -> ExploreDeps:
        from tether.explore.session import ExploreDeps, ExploreLimits
        from tether.tools import default_tools

        def emit(kind: str, data: dict[str, Any]) -> None:
            from tether.recover.events import event_from

            self._services().emit(event_from(kind, data))

        return ExploreDeps(
            files=self.files,
            llm=lambda: self.llm,
            book=lambda: self.book,
            actions=self.actions,
            tools=lambda: [*default_tools, *self.tools],
            near_misses=self.near_misses,
            limits=lambda: ExploreLimits.of(self.config.engine),
            emit=emit,
            listening=lambda: self.on_event is not None,
            warn=self._warn,
            clock=self.clock,
        )

    def explore(
        self,
        context: Context,
        *,
        tools: Sequence[Callable[..., Any] | Tool] = (),
        collection: str | None = None,
        hint: str | None = None,
        allow_escalation: bool | None = None,
    ) -> Rule | None:
        """Let the model explore ``context`` and propose a rule; ``None`` when it found none.

        Example::

            rule = t.explore({"stderr": err, "exit_code": 1, "command": "make"}, hint="CI box")

        The rule is validated (schema, RE2, matches ``context``, not too broad, no duplicate,
        actions import) and put in force as *ephemeral*: the next recovery that runs it and
        sees the job pass writes it (and its action) under ``<home>``. Nothing runs here, so
        the attempt is recorded as ``unverified``. The same failure explored again in this
        session returns the same rule without a model call.

        Args:
            context: the failure, a flat mapping (``stderr``, ``exit_code``, ``command`` ...).
            tools: extra tools for the model (functions or :class:`~tether.tools.Tool`).
            collection: the collection the rule joins (default: the rule's own, ``default``).
            hint: a hint for the model.
            allow_escalation: a give-up hands over to the secondary model (default: config).

        Raises:
            ExplorationError: no model is configured, its key is missing, or ``session_limit``
                explorations already ran.
        """
        from tether.recover.fingerprint import fingerprint
        from tether.tools.tool import Tool

        extra = [t if isinstance(t, Tool) else Tool.from_function(t) for t in tools]
        session = self.exploring
        found = session.run(
            context,
            tools=extra,
            collection=collection,
            hint=hint,
            allow_escalation=allow_escalation,
            target=str(context.get("command", "")),
        )
        if found.rule is not None and found.outcome != "cached":
            session.observe(
                found, "unverified", fingerprint(context), str(context.get("command", ""))
            )
        return found.rule

    # -- model ------------------------------------------------------------------------------------

    @property
    def llm(self) -> LLM | None:
        """The model client for LLM work, or ``None`` when no model is configured.

        From the constructor's ``llm=`` (``"provider/model"``, a pydantic-ai ``Model``, a
        :class:`tether.testing.ScriptedModel` or an :class:`~tether.llm.LLM`), else from
        ``engine.llm`` / ``engine.llm_secondary`` in ``config.yaml``. Built on first use; the
        provider's key is checked at the first call.

        Raises:
            UnknownProvider: the configured name has an unknown provider prefix.
            ConfigError: the configured price table cannot be read.
        """
        if self._llm is None:
            from tether.llm.configured import configured_llm

            self._llm = configured_llm(self.config.engine, self.home, self._llm_arg)
        return self._llm

    # -- actions and tools ------------------------------------------------------------------------

    def action(self, name: str | None = None, *, description: str = "") -> Callable[[F], F]:
        """Decorator registering an action on this engine only (overrides module-level ones)."""
        return self.actions.register(name, description=description)

    def tool(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        timeout_s: Seconds = DEFAULT_TOOL_TIMEOUT_S,
        parallel_safe: bool = False,
    ) -> Callable[[F], F]:
        """Decorator registering a tool for this engine's LLM work (schema from type hints).

        Args:
            name: the name the model calls (default: the function's name).
            description: overrides the docstring's first paragraph.
            timeout_s: the time limit of one call (seconds or ``timedelta``).
            parallel_safe: calls may run concurrently with other calls of the same turn.

        Raises:
            ToolSchemaError: at registration, for a signature that cannot be a tool.
        """

        def decorate(fn: F) -> F:
            return self.tools.register(
                fn,
                name=name,
                description=description,
                timeout_s=timeout_s,
                parallel_safe=parallel_safe,
            )

        return decorate

    # -- recovery ---------------------------------------------------------------------------------

    @overload
    def mark(self, fn: Callable[P, R], /) -> Marked[P, R]: ...

    @overload
    def mark(
        self, fn: None = None, /, **options: Unpack[MarkOptions]
    ) -> Callable[[Callable[P, R]], Marked[P, R]]: ...

    def mark(self, fn: Callable[..., Any] | None = None, /, **options: Unpack[MarkOptions]) -> Any:
        """Recover a function when it raises; ``@t.mark`` or ``@t.mark(max_retries=2, ...)``.

        Sync or async follows the wrapped function. The settings are those of
        :class:`~tether.recover.mark.MarkOptions` (``context_from``, ``max_retries``,
        ``max_depth``, ``rules``, ``tags``, ``fallback``, ``explorable``, ``collection``,
        ``setup``, ``teardown``, ``enabled``); ``None`` means this engine's default.
        ``explorable=True`` explores only when ``TETHER_EXPLORE=1`` or ``engine.explore: true``
        switches it on. A type checker sees the wrapped function's own signature.

        Raises:
            TypeError: an unknown setting.
        """
        from tether.recover.mark import mark

        if fn is None:
            return mark(self._services(), **options)
        return mark(self._services(), **options)(fn)

    def settings(self, **overrides: Any) -> RecoverySettings:
        """Recovery settings from config defaults with ``overrides`` (``None`` values ignored)."""
        from tether.recover.loop import RecoverySettings

        config = self.config.engine
        base: dict[str, Any] = {
            "max_retries": config.max_retries,
            "max_depth": config.max_depth,
            "collection": config.collection,
        }
        base.update({k: v for k, v in overrides.items() if v is not None})
        return RecoverySettings(**base)

    def run_command(
        self,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        context: Mapping[str, Any] | None = None,
        stream: bool = True,
        settings: RecoverySettings | None = None,
        tail_lines: int | None = None,
        job: CommandJob | None = None,
        first: CommandResult | None = None,
    ) -> tuple[CommandResult, Outcome | None]:
        """Run a command; on a non-zero exit, recover it with rules and re-run.

        Each rule's actions run in the directory where the failing step ran (for
        ``bash -c 'cd sub && make'``: ``sub``; see :mod:`tether.recover.shell`); when
        that cannot be known, no rule with steps is applied.

        Args:
            argv: the command and its arguments (run without a shell; a ``SHELL -c LINE``
                argv is understood as the line).
            cwd: where to run it (default: the current directory).
            context: extra facts for the failure context (``--context k=v``).
            stream: copy the command's output to ours as it arrives.
            settings: recovery settings (default: :meth:`settings`).
            tail_lines: match only the last N lines of stdout and stderr.
            job: the :class:`~tether.recover.shell.CommandJob` to run (the CLI passes its own,
                whose runner forwards stdin, signals and a terminal); default: one for
                ``argv`` in ``cwd``.
            first: the result of a first run of ``job`` already made (it is not repeated).

        Returns:
            The last run's :class:`~tether.process.command.CommandResult` (its
            ``exit_code`` is what to exit with) and the recovery
            :class:`~tether.recover.loop.Outcome` (``None`` when the first run passed,
            or recovery could not run).
        """
        from tether.recover.command import recover_command
        from tether.recover.shell import CommandJob

        if job is None:
            where = Path(cwd).absolute() if cwd is not None else Path.cwd()
            job = CommandJob(argv, where, None if stream else _quiet_runner)
        ended = recover_command(
            job,
            self._services(),
            settings or self.settings(),
            wait=self.sleep,
            clock=self.clock,
            context=context,
            tail_lines=tail_lines,
            first=first,
        )
        if ended.internal_error is not None:
            self._warn(f"recovery stopped by an internal error: {ended.internal_error}")
        elif ended.outcome is not None and ended.failure is not None and not ended.outcome.attempts:
            self._records.unmatched(ended.failure.context, ended.outcome.reason)
        return ended.last, ended.outcome

    def _services(self) -> EngineWiring:
        if self._recovery is None:
            from tether.wiring import EngineWiring

            self._recovery = EngineWiring(self, self._records, self._explorer)
        return self._recovery

    # -- records ----------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The home's store (SQLite at ``<home>/tether.db``; opened on first use)."""
        if self._store is None:
            from tether.store import open_store_or_local

            self._store = open_store_or_local(self.home, warn=self._warn)
        return self._store

    def stats(self) -> list[RuleStats]:
        """Per-rule statistics (hits, successes, failures, last use), most used first."""
        return self.store.rule_stats()

    def _warn(self, message: str) -> None:
        warnings.warn(f"tether: {message}", RuntimeWarning, stacklevel=3)

    def close(self) -> None:
        """Close the store connection."""
        if self._store is not None:
            self._store.close()

    def __repr__(self) -> str:
        return f"Tether(home={str(self.home)!r})"


def _quiet_runner(argv: list[str], cwd: Path) -> CommandResult:
    from tether.process.command import run_command

    return run_command(argv, cwd=cwd, stream=False)
