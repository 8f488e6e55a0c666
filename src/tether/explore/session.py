"""One engine's explorations: when they may run, what they cost, and what happens to their rules.

:class:`ExploreSession` sits between the engine and the :class:`~tether.explore.Explorer`:

- **May it run?** A model must be configured, with its key in the environment,
  and fewer than ``session_limit`` explorations started by this engine. The
  reason it may not is said once (an ``explore_skipped`` event, or a warning
  when nobody listens to events).
- **Session cache.** The same failure (fingerprint,
  :func:`tether.recover.fingerprint.fingerprint`) explored twice in one session
  reuses the first exploration's rule: no second bill.
- **Ephemeral, then verified.** A submitted rule joins the rule book in memory
  only, and its action code is imported into the engine's registry (after it
  imported in isolation, see :mod:`tether.explore.isolate`). The recovery loop
  runs it and re-runs the job. Verified (success or progress):
  :meth:`promote` writes the action to ``<home>/actions/`` and the rule to
  ``<home>/rules/``, each atomically, the action first. Not verified:
  :meth:`reject` removes both from memory (nothing was on disk), archives
  them under ``<home>/archive/`` when ``archive_llm_attempt`` is set, and
  returns the rejection the next exploration is shown.
- **Records.** Every exploration lands in ``observations.jsonl``: those that
  produced no rule at once (``kind: exploration``, outcome ``failure``), those
  that did within the attempt record of their rule (``llm``: outcome
  ``success``/``failure`` after verification), and rules explored outside
  recovery (``Tether.explore``) as ``unverified``. Each carries the model,
  tokens, tool calls and seconds. Traces go to ``<home>/traces/explore-*.jsonl``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.errors import ExplorationError, StoreError, TetherError
from tether.explore.explorer import Exploration, Explorer, ExploreSettings, secondary_llm
from tether.explore.validate import Submission, action_file_stem, signature_of
from tether.recover.fingerprint import fingerprint
from tether.rules.model import Rule

if TYPE_CHECKING:
    from tether._types import Context
    from tether.actions.registry import ActionRegistry
    from tether.config import EngineSettings
    from tether.llm.client import LLM
    from tether.recover.loop import Explore, Explored
    from tether.resolve import NearMiss
    from tether.rules.book import RuleBook
    from tether.store.homefiles import HomeFiles
    from tether.tools.tool import Tool

__all__ = ["ExploreDeps", "ExploreLimits", "ExploreSession"]

_OBSERVATION_TAIL_BYTES = 2 * 1024 * 1024
"""How much of ``observations.jsonl`` is read back for earlier rejections."""


@dataclass(frozen=True)
class ExploreLimits:
    """The budgets of one engine's explorations (``engine.*`` in ``config.yaml``)."""

    session_limit: int
    """Explorations (model loops) one engine may start."""
    max_tool_calls: int
    """Tool calls per exploration."""
    max_tokens: int
    """Tokens (input + output) per exploration."""
    wall_clock_s: float
    """Seconds per exploration."""
    allow_escalation: bool
    """A rejected or given-up exploration hands over to the secondary model once."""
    archive: bool
    """Keep rejected rules and actions under ``<home>/archive/``."""

    @classmethod
    def of(cls, settings: EngineSettings) -> ExploreLimits:
        """The limits ``config.yaml``'s ``engine`` section sets."""
        return cls(
            session_limit=settings.session_limit,
            max_tool_calls=settings.max_tool_calls_per_session,
            max_tokens=settings.max_tokens_per_session,
            wall_clock_s=settings.explore_wall_clock_s,
            allow_escalation=settings.allow_escalation,
            archive=settings.archive_llm_attempt,
        )


@dataclass(frozen=True)
class ExploreDeps:
    """What an :class:`ExploreSession` needs, built once by the engine (the composition root).

    Values that are read lazily (the model, the rule book, the config's limits) are callables,
    so that building the deps reads nothing from disk.
    """

    files: HomeFiles
    """The home's files: rules, actions, archive and observations are written through it."""
    llm: Callable[[], LLM | None]
    """The configured model, or ``None``; raises :class:`~tether.errors.TetherError` when the
    setting is unusable."""
    book: Callable[[], RuleBook]
    """The rule book in force (loading rules and actions on first call)."""
    actions: ActionRegistry
    """The engine's action registry: an explored action is registered here while ephemeral."""
    tools: Callable[[], Sequence[Tool]]
    """The user's tools for the model (the defaults and the engine's)."""
    near_misses: Callable[[Context, int], list[NearMiss]]
    """``(context, k)`` -> up to ``k`` rules that read like the failure."""
    limits: Callable[[], ExploreLimits]
    """The budgets, from the config."""
    emit: Callable[[str, dict[str, Any]], None]
    """``(kind, data)`` to the engine's event watcher; must not raise."""
    listening: Callable[[], bool]
    """Whether anyone watches events (if not, a notice is a warning instead)."""
    warn: Callable[[str], None]
    """Warn the user (a ``RuntimeWarning``); must not raise."""
    clock: Callable[[], float] = field(default=time.monotonic)
    """Monotonic seconds."""


@dataclass
class _Pending:
    """An explored rule waiting for verification."""

    exploration: Exploration
    fingerprint: str
    target: str
    actions: list[str]


class ExploreSession:
    """The exploration state of one engine (see the module docstring).

    Args:
        deps: what the session works with (see :class:`ExploreDeps`).
    """

    def __init__(self, deps: ExploreDeps) -> None:
        self.deps = deps
        self.started = 0
        """Explorations started (model loops), compared with ``session_limit``."""
        self.cache: dict[str, Rule] = {}
        self.pending: dict[str, _Pending] = {}
        self._said: set[str] = set()

    # -- may it run? ---------------------------------------------------------------------------

    def problem(self) -> str | None:
        """Why exploration cannot run now, or ``None`` when it can."""
        try:
            llm = self.deps.llm()
        except TetherError as exc:
            return f"the model setting is unusable: {exc}"
        if llm is None:
            return (
                "no model is configured: set engine.llm in "
                f"{self.deps.files.home / 'config.yaml'} (e.g. anthropic/claude-sonnet-4-20250514) "
                "or pass Tether(llm=...)"
            )
        if not llm.has_key:
            spec = llm.slots[0].spec
            assert spec is not None
            return f"model {spec} has no API key: set {' or '.join(spec.info.env)}"
        limit = self.deps.limits().session_limit
        if self.started >= limit:
            return (
                f"session_limit reached ({self.started} of {limit} explorations in this session); "
                "raise engine.session_limit to allow more"
            )
        return None

    def notice(self, reason: str) -> None:
        """Say once why exploration did not run."""
        if reason in self._said:
            return
        self._said.add(reason)
        if self.deps.listening():
            self.deps.emit("explore_skipped", {"reason": reason})
        else:
            warnings.warn(f"tether: not exploring: {reason}", RuntimeWarning, stacklevel=2)

    # -- running ---------------------------------------------------------------------------------

    def settings(self, hint: str | None, allow_escalation: bool | None) -> ExploreSettings:
        """Budgets from the engine's config, with this run's hint and escalation switch."""
        c = self.deps.limits()
        return ExploreSettings(
            max_tool_calls=c.max_tool_calls,
            max_tokens=c.max_tokens,
            wall_clock_s=c.wall_clock_s,
            hint=hint,
            allow_escalation=c.allow_escalation if allow_escalation is None else allow_escalation,
        )

    def run(
        self,
        context: Mapping[str, Any],
        *,
        tools: Sequence[Tool] = (),
        collection: str | None = None,
        hint: str | None = None,
        allow_escalation: bool | None = None,
        tried: Sequence[str] = (),
        rejections: Sequence[str] = (),
        escalate: bool = False,
        target: str = "",
    ) -> Exploration:
        """Explore ``context`` (the cache first); a rule found is installed as ephemeral.

        Raises:
            ExplorationError: exploration cannot run (no model, no key, session limit), or
                an escalation was asked for with no secondary model.
        """
        from tether.rules.match import match_context

        fp = fingerprint(context)
        cached = self.cache.get(fp)
        if cached is not None and cached.name in self.deps.book() and cached.name not in tried:
            captures = match_context(cached, dict(context))
            if captures is not None:
                self._emit("explore_cached", {"rule": cached.name})
                return Exploration(
                    "cached",
                    f"explored earlier in this session: rule {cached.name!r}",
                    rule=cached,
                    captures=captures,
                )
        why = self.problem()
        if why is not None:
            raise ExplorationError(f"not exploring: {why}")
        llm = self.deps.llm()
        assert llm is not None
        if escalate:
            stronger = secondary_llm(llm)
            if stronger is None:
                raise ExplorationError(
                    "not escalating: no secondary model (set engine.llm_secondary)"
                )
            llm = stronger
        self.started += 1
        explorer = self._explorer(llm, context, tools, hint, allow_escalation and not escalate)
        self._emit(
            "explore_start",
            {
                "model": llm.model,
                "escalate": escalate,
                "max_tokens": explorer.settings.max_tokens,
                "max_tool_calls": explorer.settings.max_tool_calls,
            },
        )
        earlier = [*rejections, *self.earlier_rejections(fp)]
        found = explorer.run(context, rejections=earlier, tried=tried)
        code = found.submission.action_code if found.submission is not None else None
        self._emit(
            "explore_end",
            {
                "outcome": found.outcome,
                "reason": found.reason,
                "tokens": found.tokens,
                "duration_s": found.duration_s,
                "tool_calls": found.tool_calls,
                "action_code": code,
                "rejections": len(found.rejections),
            },
        )
        rule = found.rule
        if rule is not None:
            try:
                actions = self._install(found, collection)
            except TetherError as exc:
                found = Exploration(
                    "failed",
                    f"the submitted rule could not be installed: {exc}",
                    status=found.status,
                    model=found.model,
                    input_tokens=found.input_tokens,
                    output_tokens=found.output_tokens,
                    tool_calls=found.tool_calls,
                    duration_s=found.duration_s,
                    rejections=found.rejections,
                    trace_paths=found.trace_paths,
                )
            else:
                self.pending[rule.name] = _Pending(found, fp, target, actions)
                self.cache[fp] = rule
                return found
        self.observe(found, "failure", fp, target)
        return found

    def answer(self, request: Explore) -> Explored:
        """The recovery loop's :class:`~tether.recover.loop.Explore` request, answered."""
        from tether.recover.loop import Explored
        from tether.rules.book import Match

        try:
            found = self.run(
                request.context,
                collection=request.collection,
                hint=request.hint,
                allow_escalation=request.allow_escalation,
                tried=request.tried,
                rejections=request.rejections,
                escalate=request.escalate,
                target=request.target,
            )
        except ExplorationError as exc:
            reason = str(exc).removeprefix("not exploring: ")
            if not request.escalate:
                self.notice(reason)
            return Explored(reason=reason, explored=request.escalate)
        if found.rule is not None:
            return Explored(
                Match(found.rule, found.captures),
                found.reason,
                record=self.record_of(found, fingerprint(request.context)),
            )
        return Explored(reason=found.reason, rerun=found.outcome == "done")

    def _explorer(
        self,
        llm: LLM,
        context: Mapping[str, Any],
        tools: Sequence[Tool],
        hint: str | None,
        allow_escalation: bool | None,
    ) -> Explorer:
        deps = self.deps
        book = deps.book()  # loads rules and actions
        cwd = context.get("cwd")
        workspace = Path(str(cwd)) if cwd else Path.cwd()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        fp = fingerprint(context)[3:11]
        user_tools = {t.name: t for t in [*deps.tools(), *tools]}
        files = deps.files
        return Explorer(
            llm,
            rules=list(book),
            actions={a.name: signature_of(a) for a in deps.actions},
            tools=list(user_tools.values()),
            near_misses=deps.near_misses(dict(context), 3),
            workspace=workspace,
            protected=[files.rules_dir, files.actions_dir],
            settings=self.settings(hint, allow_escalation),
            trace_path=lambda n: files.trace_path(f"explore-{stamp}-{fp}-{n}.jsonl"),
            on_event=lambda event: self._emit("explore", event),
            clock=deps.clock,
        )

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self.deps.emit(kind, data)

    # -- ephemeral rules -------------------------------------------------------------------------

    def _install(self, found: Exploration, collection: str | None) -> list[str]:
        """Put the found rule in force in memory; import its action code into the engine."""
        from tether.actions.discover import discover_actions
        from tether.actions.registry import ActionRegistry

        rule = found.rule
        assert rule is not None
        if found.submission is None:  # an existing rule: nothing to install
            return []
        if collection and rule.collection == "default" and collection != "default":
            rule.collection = collection
        names: list[str] = []
        code = found.submission.action_code
        if code:
            import tempfile

            registry = ActionRegistry()
            with tempfile.TemporaryDirectory(prefix="tether-explored-") as tmp:
                path = Path(tmp) / f"{action_file_stem(rule.name)}.py"
                path.write_text(code, encoding="utf-8")
                errors = discover_actions(Path(tmp), registry)
            if errors:
                raise errors[0]
            for spec in registry:
                self.deps.actions.register(spec.name, description=spec.description)(spec.fn)
                names.append(spec.name)
        self.deps.book().add(rule.placed(ephemeral=True))
        return names

    def promote(self, rule: Rule) -> bool:
        """Write a verified explored rule (and its action) to the home; ``False`` if not explored.

        Raises:
            OSError: a file could not be written (the rule stays ephemeral).
        """
        pending = self.pending.pop(rule.name, None)
        if pending is None:
            return False
        submission = pending.exploration.submission
        files = self.deps.files
        written = []
        if submission is not None and submission.action_code:
            stem = action_file_stem(rule.name)
            written.append(str(files.write_action(stem, submission.action_code)))
        if rule.ephemeral:
            path = files.write_rule(rule)
            rule.placed(source=path)
            written.append(str(path))
        self._emit("promoted", {"rule": rule.name, "files": written})
        return True

    def reject(self, rule: Rule, reason: str) -> str:
        """Drop an explored rule that did not verify; returns the rejection message."""
        pending = self.pending.pop(rule.name, None)
        message = f"rule {rule.name!r} was valid but did not fix the failure ({reason})"
        if pending is None:
            return message
        if rule.ephemeral:
            self.deps.book().remove(rule.name)
            for name in pending.actions:
                self.deps.actions.remove(name)
        self.cache = {fp: r for fp, r in self.cache.items() if r.name != rule.name}
        if self.deps.limits().archive and pending.exploration.submission:
            self._archive(rule, pending.exploration.submission, message)
        self._emit("explore_rejected", {"rule": rule.name, "reason": reason})
        return message

    def _archive(self, rule: Rule, submission: Submission, message: str) -> None:
        kept = {f"{rule.name}.rule.yaml": rule.to_yaml()}
        if submission.action_code:
            kept[f"{action_file_stem(rule.name)}.py"] = submission.action_code
        kept["REJECTED.txt"] = message + "\n"
        try:
            self.deps.files.archive(rule.name, kept)
        except OSError as exc:
            self.deps.warn(f"could not archive rejected rule {rule.name!r}: {exc}")

    # -- records -------------------------------------------------------------------------------

    @staticmethod
    def record_of(found: Exploration, fp: str) -> dict[str, Any]:
        """The LLM attempt's record (no outcome: the caller adds it)."""
        return {
            "fingerprint": fp,
            "exploration": found.outcome,
            "rule": found.rule.name if found.rule else None,
            "model": found.model,
            "input_tokens": found.input_tokens,
            "output_tokens": found.output_tokens,
            "tool_calls": found.tool_calls,
            "duration_s": found.duration_s,
            "rejections": found.rejections[-5:],
            "escalated": found.escalated,
            "status": found.status,
            "reason": found.reason,
            "traces": found.trace_paths,
        }

    def observe(self, found: Exploration, outcome: str, fp: str, target: str) -> None:
        """Append an exploration's own record to ``observations.jsonl`` (never raises)."""
        record = {
            "kind": "exploration",
            "target": target,
            "outcome": outcome,
            **self.record_of(found, fp),
        }
        try:
            self.deps.files.observe(record)
        except (StoreError, OSError) as exc:
            self.deps.warn(f"exploration record not kept: {exc}")

    def earlier_rejections(self, fp: str) -> list[str]:
        """What was explored for this failure before (any process) and did not hold up."""
        out: list[str] = []
        for rec in self.deps.files.recent_observations(_OBSERVATION_TAIL_BYTES):
            llm = rec.get("llm") if isinstance(rec.get("llm"), dict) else None
            if llm is not None and llm.get("fingerprint") == fp and llm.get("outcome") == "failure":
                out.append(llm.get("rejection") or f"rule {llm.get('rule')!r} did not fix it")
            elif (rec.get("kind"), rec.get("fingerprint"), rec.get("outcome")) == (
                "exploration",
                fp,
                "failure",
            ):
                out.append(f"an earlier exploration ended without a rule: {rec.get('reason')}")
        return out[-5:]
