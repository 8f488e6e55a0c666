"""The :class:`Regulator`: LLM events in, one decision out.

The facade over the regulator's state machine (:mod:`tether.regulator.state`, no I/O):
it validates settings (the ``with_*`` builders), takes the lock, feeds events, saves learned
corrections to a store, and writes and reads snapshots (:mod:`tether.regulator.codec`).

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
from typing import TYPE_CHECKING

from tether.regulator import codec
from tether.regulator import snapshot as snap
from tether.regulator import state as machine
from tether.regulator.confidence import TokenSpans
from tether.regulator.decision import CorrectionPattern, Decision
from tether.regulator.errors import InvalidSettingError
from tether.regulator.events import LLMEvent
from tether.regulator.state import SUGGESTIONS, RegulatorState
from tether.regulator.tokenize import keywords, topic_cluster

if TYPE_CHECKING:
    from tether.store import Store

__all__ = ["SUGGESTIONS", "Regulator"]

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

    __slots__ = ("_autosave", "_clock", "_lock", "_state", "_store")

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
        self._lock = threading.Lock()
        self._store = store
        self._autosave = autosave
        self._clock = clock
        self._state = RegulatorState(user_id)
        if store is not None:
            saved = store.load_regulator_state(user_id)
            if saved is not None:
                _, rows = snap.check_learned_document(snap.parse(saved))
                self._state.corrections.load(rows)

    @property
    def user_id(self) -> str:
        """Whose corrections this regulator learns."""
        return self._state.user_id

    @user_id.setter
    def user_id(self, value: str) -> None:
        self._state.user_id = value

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
            self._state.cq.cap = cap
            self._state.decision = None
        return self

    def with_quality_thresholds(
        self, *, window: int = 3, poor: float = 0.5, decline_min: float = 0.15
    ) -> Regulator:
        """Scores averaged (``window``), the mean called poor (``< poor``), a decline (``>= decline_min``)."""
        w = _positive_int(window, "with_quality_thresholds(window)")
        p = _fraction(poor, "with_quality_thresholds(poor)")
        d = _fraction(decline_min, "with_quality_thresholds(decline_min)")
        with self._lock:
            self._state.cq.window, self._state.cq.poor, self._state.cq.decline_min = w, p, d
            del self._state.cq.qualities[:-w]
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
            lp = self._state.loops
            lp.warn_at, lp.halt_at, lp.same_call_warn, lp.same_call_halt = values
        return self

    def with_failure_threshold(self, *, tool: int = 3, task: int = 3) -> Regulator:
        """Failures in a row that halt: of one tool, of poorly scored turns on one topic."""
        t = _positive_int(tool, "with_failure_threshold(tool)")
        k = _positive_int(task, "with_failure_threshold(task)")
        with self._lock:
            self._state.loops.failure_halt, self._state.cq.task_failure_halt = t, k
        return self

    def with_drift_threshold(self, threshold: float) -> Regulator:
        """Drift score (``[0, 1]``) from which a response warns (default 0.5)."""
        value = _fraction(threshold, "with_drift_threshold")
        with self._lock:
            self._state.drift_threshold = value
            self._state.drifted = machine.drift_decision(self._state)
            self._state.decision = None
        return self

    def with_correction_memory(
        self, *, min_corrections: int = 3, max_clusters: int = 256, max_examples: int = 3
    ) -> Regulator:
        """Corrections that make a pattern; topic clusters kept (LRU); examples kept per cluster."""
        m = _positive_int(min_corrections, "with_correction_memory(min_corrections)")
        c = _positive_int(max_clusters, "with_correction_memory(max_clusters)")
        e = _positive_int(max_examples, "with_correction_memory(max_examples)")
        with self._lock:
            mem = self._state.corrections
            mem.min_corrections, mem.max_clusters, mem.max_examples = m, c, e
            mem.load(mem.to_dict())
            self._state.decision = None
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
            self._state.implicit_window_s = float(s)
        return self

    with_implicit_correction_window_secs = with_implicit_correction_window

    def with_low_confidence_threshold(self, probability: float) -> Regulator:
        """Token probability below which tokens form low-confidence spans (default 0.2)."""
        p = _fraction(probability, "with_low_confidence_threshold")
        with self._lock:
            rows = self._state.tokens.to_dict()
            self._state.tokens = TokenSpans(threshold=p)
            self._state.tokens.load(rows)
            self._state.decision = None
        return self

    # ── events ────────────────────────────────────────────────────────────

    def on_event(self, event: LLMEvent) -> None:
        """Apply one event.

        Raises:
            InvalidEventError: ``event`` is not an :class:`LLMEvent` (for a dict,
                use :meth:`LLMEvent.from_dict`). Nothing changes.
        """
        with self._lock:
            if machine.apply(self._state, event, self._clock):
                self._learned()

    def _learned(self) -> None:
        if self._autosave and self._store is not None:
            self._store.save_regulator_state(self.user_id, codec.learned_json(self._state))

    # ── decisions ─────────────────────────────────────────────────────────

    def decide(self) -> Decision:
        """The decision for the current state; the same object until the next event.

        Priority: circuit_break (sticky) > tool_loop_warn > scope_drift_warn >
        procedural_warning > low_confidence_spans > continue.
        """
        with self._lock:
            return machine.decide(self._state)

    def reset(self) -> None:
        """End the task: lift a halt and clear the task's costs, scores and tool history.

        Learned corrections and settings stay. ``turn_start(..., new_task=True)``
        does the same as part of a turn.
        """
        with self._lock:
            machine.new_task(self._state)
            self._state.decision = None

    # ── corrections ───────────────────────────────────────────────────────

    def corrections_prelude(self, user_message: str | None = None) -> str | None:
        """The learned corrections for ``user_message``'s topic (default: the current turn's).

        ``None`` unless a pattern applies. The text lists the examples, newest first.
        """
        with self._lock:
            cluster = topic_cluster(keywords(user_message)) if user_message else ""
            pattern = machine.pattern(self._state, cluster or self._state.cluster)
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
            return self._state.corrections.patterns(self.user_id)

    # ── accessors ─────────────────────────────────────────────────────────

    def tool_counts_by_name(self) -> dict[str, int]:
        """Calls per tool name in the current turn."""
        with self._lock:
            return dict(self._state.loops.counts_by_name)

    def tool_total_calls(self) -> int:
        """Tool calls in the current turn."""
        return self._state.loops.total_calls

    def tool_total_duration_ms(self) -> float:
        """Sum of ``duration_ms`` of the current turn's tool results."""
        return self._state.loops.duration_ms

    def tool_failure_count(self) -> int:
        """Failed tool results in the current turn."""
        return self._state.loops.failures

    def invalid_tool_call_count(self) -> int:
        """Tool calls in the current turn whose ``args_json`` was not valid JSON."""
        return self._state.loops.invalid

    def total_tokens_out(self) -> int:
        """Output tokens spent in the current task."""
        return self._state.cq.tokens_out

    def total_tokens_in(self) -> int:
        """Prompt tokens spent in the current task."""
        return self._state.cq.tokens_in

    def cost_cap_tokens(self) -> int:
        """The output-token cap."""
        return self._state.cq.cap

    def mean_quality(self) -> float | None:
        """Mean of the task's last scores (the quality window), or ``None``."""
        with self._lock:
            return self._state.cq.mean_quality()

    def implicit_corrections_count(self) -> int:
        """Corrections inferred from quick same-topic retries (see the implicit window)."""
        return self._state.implicit

    def logprob_coverage(self) -> float:
        """Share of the current turn's tokens that carried a log-probability."""
        with self._lock:
            return self._state.tokens.coverage()

    def topic_cluster(self) -> str:
        """The current turn's topic cluster ("" before the first turn)."""
        return self._state.cluster

    # ── snapshots and the store ───────────────────────────────────────────

    def export_json(self) -> str:
        """All state as versioned JSON; :meth:`from_json` restores it exactly."""
        with self._lock:
            document = codec.to_document(self._state)
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))

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
            reg._state.corrections.load(rows)
            return reg
        doc = snap.check_snapshot(data)
        reg = cls(doc["user_id"], store=None, autosave=autosave, clock=clock)
        reg._store = store
        codec.load_document(reg._state, doc)
        return reg

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
            text = codec.learned_json(self._state)
        target.save_regulator_state(self.user_id, text)

    def __repr__(self) -> str:
        st = self._state
        return f"Regulator(user_id={self.user_id!r}, turn={st.turn}, task={st.task_index})"
