"""The :class:`Regulator`: LLM events in, one decision out.

Work is done as events arrive, so that :meth:`Regulator.decide` only reads
what is ready: keywords and drift are computed at ``turn_start`` /
``turn_complete``; cost, quality and tool events update O(1) counters and
latch a halt the moment one holds. ``decide()`` picks by the locked priority
(see :mod:`tether.regulator.decision`) and caches its answer until the next
event, so it is idempotent within a turn and costs a few attribute reads.

**Halts are sticky.** Once a ``circuit_break`` holds, every ``decide()``
returns it until the task ends: ``reset()``, or a ``turn_start`` with
``new_task=True``. A later good score or an unrelated event does not lift
it; a more urgent halt replaces a less urgent one.

**Threads.** Every public method holds the regulator's lock, so threads may
share a regulator; events from several threads are applied one at a time in
the order the lock is taken.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from tether.regulator import snapshot as snap
from tether.regulator.confidence import TokenSpans
from tether.regulator.corrections import CorrectionMemory
from tether.regulator.decision import (
    CONTINUE,
    REASON_PRIORITY,
    CircuitBreakReason,
    CorrectionPattern,
    Decision,
)
from tether.regulator.drift import drift
from tether.regulator.errors import InvalidEventError, InvalidSettingError, SnapshotError
from tether.regulator.events import (
    Cost,
    LLMEvent,
    QualityFeedback,
    Token,
    ToolCall,
    ToolResult,
    TurnComplete,
    TurnStart,
    UserCorrection,
)
from tether.regulator.loops import ToolLoops
from tether.regulator.quality import CostQuality
from tether.regulator.tokenize import Keywords, keywords, topic_cluster

if TYPE_CHECKING:
    from tether.store import Store

__all__ = ["SUGGESTIONS", "Regulator"]

SUGGESTIONS: dict[str, str] = {
    "cost_cap_reached": (
        "The token budget is spent and recent answers score poorly: stop, ask the user to "
        "narrow the task, or raise the cap only if the answers are improving."
    ),
    "quality_decline_no_recovery": (
        "Answers keep getting worse: stop retrying; rephrase the task, simplify it, or hand it "
        "to a person."
    ),
    "repeated_tool_call_loop": (
        "The agent is calling tools in a loop without progress: stop, re-prompt with what the "
        "calls returned and a different approach, or escalate to the user."
    ),
    "repeated_failure_pattern": (
        "The same step keeps failing: stop, fix its cause (arguments, permissions, the tool "
        "itself) or mark the task unresolved."
    ),
}
"""The human-readable ``suggestion`` of each circuit-break reason."""

_LOOP_WARN_SUGGESTION = (
    "A tool loop is forming: change approach before the regulator halts the run."
)
_PRELUDE_HEAD = "Earlier answers on this topic were corrected by the user as follows:"


def _positive_int(value: object, setting: str, *, zero: bool = False) -> int:
    low = 0 if zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidSettingError(
            f"expected a whole number >= {low}, got {value!r}", setting=setting
        )
    return value


def _fraction(value: object, setting: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise InvalidSettingError(f"expected a number in [0, 1], got {value!r}", setting=setting)
    return float(value)


class Regulator:
    """A reliability layer for one user's LLM agent: feed events, act on decisions.

    Usage::

        r = Regulator.for_user("alice").with_cost_cap(20_000)
        r.on_event(LLMEvent.turn_start("Refactor fetch_user to be async"))
        prompt = r.inject_corrections("Refactor fetch_user to be async")
        ...  # call the model, stream tokens, run tools: r.on_event(...) for each
        r.on_event(LLMEvent.turn_complete(text))
        r.on_event(LLMEvent.cost(tokens_in=25, tokens_out=800, wallclock_ms=500))
        decision = r.decide()

    Builders (``with_*``) change settings in place and return the regulator.

    Args:
        user_id: whose corrections this regulator learns.
        store: where learned corrections persist (``tether.store.Store``); the
            user's saved corrections are loaded now, and :meth:`save` writes them.
        autosave: with a store, save after every learned correction.
        clock: seconds since the epoch (``time.time``); injected by tests of
            the implicit-correction window.
    """

    __slots__ = (
        "_autosave",
        "_clock",
        "_cluster",
        "_corrections",
        "_cq",
        "_decision",
        "_drift_threshold",
        "_drifted",
        "_halt",
        "_ignored_corrections",
        "_implicit",
        "_implicit_window_s",
        "_last_complete_at",
        "_lock",
        "_loops",
        "_procedural",
        "_response_words",
        "_store",
        "_task_index",
        "_task_words",
        "_tokens",
        "_turn",
        "user_id",
    )

    def __init__(
        self,
        user_id: str,
        *,
        store: Store | None = None,
        autosave: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(user_id, str):
            raise InvalidSettingError(
                f"expected a string, got {type(user_id).__name__}", setting="user_id"
            )
        self.user_id = user_id
        self._lock = threading.Lock()
        self._store = store
        self._autosave = autosave
        self._clock = clock
        self._cq = CostQuality()
        self._loops = ToolLoops()
        self._tokens = TokenSpans()
        self._corrections = CorrectionMemory()
        self._drift_threshold = 0.5
        self._implicit_window_s: float | None = None
        self._implicit = 0
        self._ignored_corrections = 0
        self._turn = 0
        self._task_index = 0
        self._task_words = keywords("")
        self._response_words: Keywords | None = None
        self._cluster = ""
        self._last_complete_at: float | None = None
        self._halt: Decision | None = None
        self._drifted: Decision | None = None
        self._procedural: tuple[CorrectionPattern | None, Decision] = (None, CONTINUE)
        self._decision: Decision | None = None
        if store is not None:
            saved = store.load_regulator_state(user_id)
            if saved is not None:
                _, rows = snap.check_learned_document(snap.parse(saved))
                self._corrections.load(rows)

    @classmethod
    def for_user(
        cls,
        user_id: str,
        *,
        store: Store | None = None,
        autosave: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> Regulator:
        """A fresh regulator for ``user_id`` (with ``store``: its saved corrections loaded)."""
        return cls(user_id, store=store, autosave=autosave, clock=clock)

    # ── builders ──────────────────────────────────────────────────────────

    def with_cost_cap(self, tokens: int) -> Regulator:
        """Output tokens a task may spend before poor quality halts it (default 10,000; 0 allowed)."""
        cap = _positive_int(tokens, "with_cost_cap", zero=True)
        with self._lock:
            self._cq.cap = cap
            self._decision = None
        return self

    def with_quality_thresholds(
        self, *, window: int = 3, poor: float = 0.5, decline_min: float = 0.15
    ) -> Regulator:
        """Scores averaged (``window``), the mean called poor (``< poor``), a decline (``>= decline_min``)."""
        w = _positive_int(window, "with_quality_thresholds(window)")
        p = _fraction(poor, "with_quality_thresholds(poor)")
        d = _fraction(decline_min, "with_quality_thresholds(decline_min)")
        with self._lock:
            self._cq.window, self._cq.poor, self._cq.decline_min = w, p, d
            del self._cq.qualities[:-w]
        return self

    def with_loop_thresholds(
        self,
        *,
        warn_at: int = 3,
        halt_at: int = 5,
        same_call_warn: int = 2,
        same_call_halt: int = 3,
    ) -> Regulator:
        """Same tool in a row: warn / halt counts; same call across turns: warn / halt turns."""
        values = [
            _positive_int(v, f"with_loop_thresholds({n})")
            for n, v in (
                ("warn_at", warn_at),
                ("halt_at", halt_at),
                ("same_call_warn", same_call_warn),
                ("same_call_halt", same_call_halt),
            )
        ]
        if values[0] > values[1] or values[2] > values[3]:
            raise InvalidSettingError(
                "a warning must come at or before its halt", setting="with_loop_thresholds"
            )
        with self._lock:
            lp = self._loops
            lp.warn_at, lp.halt_at, lp.same_call_warn, lp.same_call_halt = values
        return self

    def with_failure_threshold(self, *, tool: int = 3, task: int = 3) -> Regulator:
        """Failures in a row that halt: of one tool, of poorly scored turns on one topic."""
        t = _positive_int(tool, "with_failure_threshold(tool)")
        k = _positive_int(task, "with_failure_threshold(task)")
        with self._lock:
            self._loops.failure_halt, self._cq.task_failure_halt = t, k
        return self

    def with_drift_threshold(self, threshold: float) -> Regulator:
        """Drift score (``[0, 1]``) from which a response warns (default 0.5)."""
        value = _fraction(threshold, "with_drift_threshold")
        with self._lock:
            self._drift_threshold = value
            self._drifted = self._drift_decision()
            self._decision = None
        return self

    def with_correction_memory(
        self, *, min_corrections: int = 3, max_clusters: int = 256, max_examples: int = 3
    ) -> Regulator:
        """Corrections that make a pattern; topic clusters kept (LRU); examples kept per cluster."""
        m = _positive_int(min_corrections, "with_correction_memory(min_corrections)")
        c = _positive_int(max_clusters, "with_correction_memory(max_clusters)")
        e = _positive_int(max_examples, "with_correction_memory(max_examples)")
        with self._lock:
            mem = self._corrections
            mem.min_corrections, mem.max_clusters, mem.max_examples = m, c, e
            mem.load(mem.to_dict())
            self._decision = None
        return self

    def with_implicit_correction_window(self, seconds: float | timedelta) -> Regulator:
        """Treat a ``turn_start`` on the same topic within ``seconds`` of the last answer as a correction."""
        s = seconds.total_seconds() if isinstance(seconds, timedelta) else seconds
        if isinstance(s, bool) or not isinstance(s, int | float) or not (0 < s < math.inf):
            raise InvalidSettingError(
                f"expected a number of seconds > 0, got {seconds!r}",
                setting="with_implicit_correction_window",
            )
        with self._lock:
            self._implicit_window_s = float(s)
        return self

    with_implicit_correction_window_secs = with_implicit_correction_window

    def with_low_confidence_threshold(self, probability: float) -> Regulator:
        """Token probability below which tokens form low-confidence spans (default 0.2)."""
        p = _fraction(probability, "with_low_confidence_threshold")
        with self._lock:
            rows = self._tokens.to_dict()
            self._tokens = TokenSpans(threshold=p)
            self._tokens.load(rows)
            self._decision = None
        return self

    # ── events ────────────────────────────────────────────────────────────

    def on_event(self, event: LLMEvent) -> None:
        """Apply one event.

        Raises:
            InvalidEventError: ``event`` is not an :class:`LLMEvent` (for a dict,
                use :meth:`LLMEvent.from_dict`). Nothing changes.
        """
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise InvalidEventError(
                f"expected an LLMEvent (built with LLMEvent.turn_start(...) etc.), got "
                f"{type(event).__name__}; for a dict use LLMEvent.from_dict()"
            )
        with self._lock:
            self._decision = None
            handler(self, event)

    def _latch(self, reason: CircuitBreakReason | None) -> None:
        if reason is None:
            return
        current = self._halt
        if (
            current is not None
            and current.reason is not None
            and REASON_PRIORITY[reason.kind] >= REASON_PRIORITY[current.reason.kind]
        ):
            return
        self._halt = Decision("circuit_break", reason=reason, suggestion=SUGGESTIONS[reason.kind])

    def _new_task(self) -> None:
        self._task_index += 1
        self._cq.new_task()
        self._loops.new_task()
        self._halt = None

    def _on_turn_start(self, event: TurnStart) -> None:
        if event.new_task:
            self._new_task()
        words = keywords(event.user_message)
        cluster = topic_cluster(words)
        window = self._implicit_window_s
        if (
            window is not None
            and cluster
            and cluster == self._cluster
            and self._last_complete_at is not None
            and self._clock() - self._last_complete_at <= window
        ):
            self._implicit += 1
            self._learn(cluster, event.user_message)
        self._turn += 1
        self._task_words = words
        self._cluster = cluster
        self._response_words = None
        self._drifted = None
        self._last_complete_at = None
        self._loops.new_turn()
        self._tokens.new_turn()
        if cluster:
            self._corrections.touch(cluster)

    def _on_token(self, event: Token) -> None:
        self._tokens.add(event.index, event.token, event.logprob)

    def _on_turn_complete(self, event: TurnComplete) -> None:
        self._response_words = keywords(event.full_response)
        self._drifted = self._drift_decision()
        self._last_complete_at = self._clock()

    def _drift_decision(self) -> Decision | None:
        if self._response_words is None:
            return None
        found = drift(self._task_words, self._response_words)
        if found is None or found[0] < self._drift_threshold:
            return None
        score, off = found
        return Decision(
            "scope_drift_warn",
            drift_score=score,
            drift_tokens=tuple(self._response_words.words(off)),
            task_tokens=tuple(self._task_words.words()),
        )

    def _on_cost(self, event: Cost) -> None:
        self._latch(self._cq.on_cost(event.tokens_in, event.tokens_out, event.wallclock_ms))

    def _on_quality(self, event: QualityFeedback) -> None:
        self._latch(self._cq.on_quality(event.quality, self._cluster))

    def _on_correction(self, event: UserCorrection) -> None:
        if not event.corrects_last or not self._cluster:
            self._ignored_corrections += 1  # nothing to attribute it to
            return
        self._learn(self._cluster, event.correction_message)

    def _learn(self, cluster: str, text: str) -> None:
        self._corrections.record(cluster, text)
        if self._autosave and self._store is not None:
            self._store.save_regulator_state(self.user_id, self._learned_json())

    def _on_tool_call(self, event: ToolCall) -> None:
        self._latch(self._loops.on_call(event.tool_name, event.args_json, self._turn))

    def _on_tool_result(self, event: ToolResult) -> None:
        self._latch(self._loops.on_result(event.tool_name, event.success, event.duration_ms))

    # ── decisions ─────────────────────────────────────────────────────────

    def decide(self) -> Decision:
        """The decision for the current state; the same object until the next event.

        Priority: circuit_break (sticky) > tool_loop_warn > scope_drift_warn >
        procedural_warning > low_confidence_spans > continue.
        """
        with self._lock:
            decision = self._decision
            if decision is None:
                decision = self._decision = self._decide()
            return decision

    def _decide(self) -> Decision:
        if self._halt is not None:
            return self._halt
        warning = self._loops.warning
        if warning is not None:
            return Decision("tool_loop_warn", loop=warning, suggestion=_LOOP_WARN_SUGGESTION)
        if self._drifted is not None:
            return self._drifted
        pattern = self._pattern(self._cluster)
        if pattern is not None:
            cached, decision = self._procedural
            if cached is not pattern:
                decision = Decision("procedural_warning", patterns=(pattern,))
                self._procedural = (pattern, decision)
            return decision
        if self._tokens.tokens:
            spans = self._tokens.spans()
            if spans:
                return Decision("low_confidence_spans", spans=spans)
        return CONTINUE

    def _pattern(self, cluster: str) -> CorrectionPattern | None:
        return self._corrections.pattern_for(self.user_id, cluster) if cluster else None

    def reset(self) -> None:
        """End the task: lift a halt and clear the task's costs, scores and tool history.

        Learned corrections and settings stay. ``turn_start(..., new_task=True)``
        does the same as part of a turn.
        """
        with self._lock:
            self._new_task()
            self._decision = None

    # ── corrections ───────────────────────────────────────────────────────

    def corrections_prelude(self, user_message: str | None = None) -> str | None:
        """The learned corrections for ``user_message``'s topic (default: the current turn's).

        ``None`` unless a pattern applies. The text lists the examples, newest first.
        """
        with self._lock:
            cluster = topic_cluster(keywords(user_message)) if user_message else ""
            pattern = self._pattern(cluster or self._cluster)
        if pattern is None:
            return None
        lines = [_PRELUDE_HEAD, *(f"- {text}" for text in pattern.example_corrections)]
        return "\n".join(lines)

    def inject_corrections(self, user_message: str) -> str:
        """``user_message`` with the learned corrections for its topic before it; unchanged if none."""
        prelude = self.corrections_prelude(user_message)
        if prelude is None:
            return user_message
        return f"{prelude}\n\nRequest: {user_message}"

    def patterns(self) -> list[CorrectionPattern]:
        """Every learned correction pattern, most recently used topic first."""
        with self._lock:
            return self._corrections.patterns(self.user_id)

    # ── accessors ─────────────────────────────────────────────────────────

    def tool_counts_by_name(self) -> dict[str, int]:
        """Calls per tool name in the current turn."""
        with self._lock:
            return dict(self._loops.counts_by_name)

    def tool_total_calls(self) -> int:
        """Tool calls in the current turn."""
        return self._loops.total_calls

    def tool_total_duration_ms(self) -> float:
        """Sum of ``duration_ms`` of the current turn's tool results."""
        return self._loops.duration_ms

    def tool_failure_count(self) -> int:
        """Failed tool results in the current turn."""
        return self._loops.failures

    def invalid_tool_call_count(self) -> int:
        """Tool calls in the current turn whose ``args_json`` was not valid JSON."""
        return self._loops.invalid

    def total_tokens_out(self) -> int:
        """Output tokens spent in the current task."""
        return self._cq.tokens_out

    def total_tokens_in(self) -> int:
        """Prompt tokens spent in the current task."""
        return self._cq.tokens_in

    def cost_cap_tokens(self) -> int:
        """The output-token cap."""
        return self._cq.cap

    def mean_quality(self) -> float | None:
        """Mean of the task's last scores (the quality window), or ``None``."""
        with self._lock:
            return self._cq.mean_quality()

    def implicit_corrections_count(self) -> int:
        """Corrections inferred from quick same-topic retries (see the implicit window)."""
        return self._implicit

    def logprob_coverage(self) -> float:
        """Share of the current turn's tokens that carried a log-probability."""
        with self._lock:
            return self._tokens.coverage()

    def topic_cluster(self) -> str:
        """The current turn's topic cluster ("" before the first turn)."""
        return self._cluster

    # ── snapshots and the store ───────────────────────────────────────────

    def export_json(self) -> str:
        """All state as versioned JSON; :meth:`from_json` restores it exactly."""
        with self._lock:
            return json.dumps(self._to_dict(), ensure_ascii=False, separators=(",", ":"))

    def _settings(self) -> dict[str, Any]:
        cq, lp, mem = self._cq, self._loops, self._corrections
        return {
            "cost_cap_tokens": cq.cap,
            "quality_window": cq.window,
            "poor_quality": cq.poor,
            "decline_min": cq.decline_min,
            "task_failure_halt": cq.task_failure_halt,
            "loop_warn_at": lp.warn_at,
            "loop_halt_at": lp.halt_at,
            "same_call_warn": lp.same_call_warn,
            "same_call_halt": lp.same_call_halt,
            "tool_failure_halt": lp.failure_halt,
            "drift_threshold": self._drift_threshold,
            "min_corrections": mem.min_corrections,
            "max_clusters": mem.max_clusters,
            "max_examples": mem.max_examples,
            "implicit_correction_window_s": self._implicit_window_s,
            "low_confidence_threshold": self._tokens.threshold,
        }

    def _to_dict(self) -> dict[str, Any]:
        halt = self._halt
        return {
            "format": snap.FORMAT,
            "version": snap.VERSION,
            "user_id": self.user_id,
            "settings": self._settings(),
            "turn": {
                "index": self._turn,
                "task_words": dict(self._task_words.surface),
                "response_words": None
                if self._response_words is None
                else dict(self._response_words.surface),
                "last_complete_at": self._last_complete_at,
                "tokens": self._tokens.to_dict(),
                "loops": self._loops.to_dict(),
            },
            "task": {
                "index": self._task_index,
                "halt": None if halt is None or halt.reason is None else halt.reason.to_dict(),
                "cost_quality": self._cq.to_dict(),
                "implicit_corrections": self._implicit,
                "ignored_corrections": self._ignored_corrections,
            },
            "learned": self._corrections.to_dict(),
        }

    @classmethod
    def from_json(
        cls,
        text: str | bytes,
        *,
        store: Store | None = None,
        autosave: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> Regulator:
        """A regulator restored from :meth:`export_json` output (or a ``noos`` snapshot).

        Raises:
            SnapshotError: ``text`` is not JSON or not a regulator snapshot
                (a ``ValueError``); the message names the bad field.
            SnapshotVersionError: it was written in another format version.
        """
        data = snap.parse(text)
        if snap.is_noos(data):
            user_id, rows = snap.noos_learned(data)
            reg = cls(user_id, store=None, autosave=autosave, clock=clock)
            reg._store = store
            reg._corrections.load(rows)
            return reg
        doc = snap.check_snapshot(data)
        reg = cls(doc["user_id"], store=None, autosave=autosave, clock=clock)
        reg._store = store
        reg._load(doc)
        return reg

    def _load(self, doc: dict[str, Any]) -> None:
        s = doc["settings"]
        cq, lp, mem = self._cq, self._loops, self._corrections
        cq.cap, cq.window, cq.poor = s["cost_cap_tokens"], s["quality_window"], s["poor_quality"]
        cq.decline_min, cq.task_failure_halt = s["decline_min"], s["task_failure_halt"]
        lp.warn_at, lp.halt_at = s["loop_warn_at"], s["loop_halt_at"]
        lp.same_call_warn, lp.same_call_halt = s["same_call_warn"], s["same_call_halt"]
        lp.failure_halt = s["tool_failure_halt"]
        self._drift_threshold = s["drift_threshold"]
        mem.min_corrections, mem.max_clusters = s["min_corrections"], s["max_clusters"]
        mem.max_examples = s["max_examples"]
        self._implicit_window_s = s["implicit_correction_window_s"]
        if s["low_confidence_threshold"] > 1 or s["decline_min"] > 1 or s["poor_quality"] > 1:
            raise SnapshotError("snapshot field 'settings': a threshold above 1; it is corrupted")
        self._tokens = TokenSpans(threshold=s["low_confidence_threshold"])
        for name in (
            "quality_window",
            "loop_warn_at",
            "loop_halt_at",
            "same_call_warn",
            "same_call_halt",
            "tool_failure_halt",
            "task_failure_halt",
            "min_corrections",
            "max_clusters",
            "max_examples",
        ):
            if s[name] < 1:
                raise SnapshotError(
                    f"snapshot field 'settings.{name}': must be >= 1; it is corrupted"
                )

        turn = doc["turn"]
        self._turn = turn["index"]
        self._task_words = Keywords(dict(turn["task_words"]))
        self._cluster = topic_cluster(self._task_words)
        rw = turn["response_words"]
        self._response_words = None if rw is None else Keywords(dict(rw))
        self._last_complete_at = turn["last_complete_at"]
        self._tokens.load(turn["tokens"])
        lp.load(turn["loops"])
        self._drifted = self._drift_decision()

        task = doc["task"]
        self._task_index = task["index"]
        self._implicit = task["implicit_corrections"]
        self._ignored_corrections = task["ignored_corrections"]
        cq.load(task["cost_quality"])
        halt = task["halt"]
        if halt is not None:
            self._latch(CircuitBreakReason(**halt))
        mem.load(doc["learned"])
        self._decision = None

    def _learned_json(self) -> str:
        return json.dumps(
            {
                "format": snap.LEARNED_FORMAT,
                "version": snap.VERSION,
                "user_id": self.user_id,
                "clusters": self._corrections.to_dict(),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    def save(self, store: Store | None = None) -> None:
        """Write the learned corrections to ``store`` (default: the one given at creation).

        Raises:
            InvalidSettingError: no store was given here or at creation.
            StoreError: the store could not be written.
        """
        target = store or self._store
        if target is None:
            raise InvalidSettingError(
                "no store to save to; pass one: Regulator.for_user(id, store=...) or save(store)",
                setting="save",
            )
        with self._lock:
            text = self._learned_json()
        target.save_regulator_state(self.user_id, text)

    def __repr__(self) -> str:
        return f"Regulator(user_id={self.user_id!r}, turn={self._turn}, task={self._task_index})"


_HANDLERS: dict[type, Callable[[Regulator, Any], None]] = {
    TurnStart: Regulator._on_turn_start,
    Token: Regulator._on_token,
    TurnComplete: Regulator._on_turn_complete,
    Cost: Regulator._on_cost,
    QualityFeedback: Regulator._on_quality,
    UserCorrection: Regulator._on_correction,
    ToolCall: Regulator._on_tool_call,
    ToolResult: Regulator._on_tool_result,
}
