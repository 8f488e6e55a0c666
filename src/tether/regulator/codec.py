"""A :class:`~tether.regulator.state.RegulatorState` as a snapshot document, and back.

:func:`to_document` writes everything (settings, the current turn and task, what was
learned) in the versioned format of :mod:`tether.regulator.snapshot`; :func:`load_document`
fills a state from a document :func:`~tether.regulator.snapshot.check_snapshot` has checked;
:func:`learned_json` is the smaller document the store keeps per user (the learned
corrections only). Parsing and checking the JSON is :mod:`.snapshot`'s job, not this one's.
"""

from __future__ import annotations

import json
from typing import Any

from tether.regulator import snapshot as snap
from tether.regulator.confidence import TokenSpans
from tether.regulator.decision import CircuitBreakReason
from tether.regulator.errors import SnapshotError
from tether.regulator.state import RegulatorState, drift_decision, latch
from tether.regulator.tokenize import Keywords, topic_cluster

__all__ = ["learned_json", "load_document", "settings", "to_document"]

_AT_LEAST_ONE = (
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
)


def settings(state: RegulatorState) -> dict[str, Any]:
    """The settings, by their snapshot names (tokens, fractions, counts, seconds)."""
    cq, lp, mem = state.cq, state.loops, state.corrections
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
        "drift_threshold": state.drift_threshold,
        "min_corrections": mem.min_corrections,
        "max_clusters": mem.max_clusters,
        "max_examples": mem.max_examples,
        "implicit_correction_window_s": state.implicit_window_s,
        "low_confidence_threshold": state.tokens.threshold,
    }


def to_document(state: RegulatorState) -> dict[str, Any]:
    """All of ``state`` as a snapshot document (JSON-ready)."""
    halt = state.halt
    return {
        "format": snap.FORMAT,
        "version": snap.VERSION,
        "user_id": state.user_id,
        "settings": settings(state),
        "turn": {
            "index": state.turn,
            "task_words": dict(state.task_words.surface),
            "response_words": None
            if state.response_words is None
            else dict(state.response_words.surface),
            "last_complete_at": state.last_complete_at,
            "tokens": state.tokens.to_dict(),
            "loops": state.loops.to_dict(),
        },
        "task": {
            "index": state.task_index,
            "halt": None if halt is None or halt.reason is None else halt.reason.to_dict(),
            "cost_quality": state.cq.to_dict(),
            "implicit_corrections": state.implicit,
            "ignored_corrections": state.ignored_corrections,
        },
        "learned": state.corrections.to_dict(),
    }


def load_document(state: RegulatorState, doc: dict[str, Any]) -> None:
    """Fill ``state`` from a checked snapshot document (``user_id`` is not read: the caller
    built ``state`` for it).

    Raises:
        SnapshotError: a setting is out of range (the snapshot is corrupted); the message
            names the field.
    """
    s = doc["settings"]
    cq, lp, mem = state.cq, state.loops, state.corrections
    cq.cap, cq.window, cq.poor = s["cost_cap_tokens"], s["quality_window"], s["poor_quality"]
    cq.decline_min, cq.task_failure_halt = s["decline_min"], s["task_failure_halt"]
    lp.warn_at, lp.halt_at = s["loop_warn_at"], s["loop_halt_at"]
    lp.same_call_warn, lp.same_call_halt = s["same_call_warn"], s["same_call_halt"]
    lp.failure_halt = s["tool_failure_halt"]
    state.drift_threshold = s["drift_threshold"]
    mem.min_corrections, mem.max_clusters = s["min_corrections"], s["max_clusters"]
    mem.max_examples = s["max_examples"]
    state.implicit_window_s = s["implicit_correction_window_s"]
    if s["low_confidence_threshold"] > 1 or s["decline_min"] > 1 or s["poor_quality"] > 1:
        raise SnapshotError("snapshot field 'settings': a threshold above 1; it is corrupted")
    state.tokens = TokenSpans(threshold=s["low_confidence_threshold"])
    for name in _AT_LEAST_ONE:
        if s[name] < 1:
            raise SnapshotError(f"snapshot field 'settings.{name}': must be >= 1; it is corrupted")

    turn = doc["turn"]
    state.turn = turn["index"]
    state.task_words = Keywords(dict(turn["task_words"]))
    state.cluster = topic_cluster(state.task_words)
    rw = turn["response_words"]
    state.response_words = None if rw is None else Keywords(dict(rw))
    state.last_complete_at = turn["last_complete_at"]
    state.tokens.load(turn["tokens"])
    lp.load(turn["loops"])
    state.drifted = drift_decision(state)

    task = doc["task"]
    state.task_index = task["index"]
    state.implicit = task["implicit_corrections"]
    state.ignored_corrections = task["ignored_corrections"]
    cq.load(task["cost_quality"])
    halt = task["halt"]
    if halt is not None:
        latch(state, CircuitBreakReason(**halt))
    mem.load(doc["learned"])
    state.decision = None


def learned_json(state: RegulatorState) -> str:
    """The learned corrections of ``state.user_id``, as the store keeps them (compact JSON)."""
    return json.dumps(
        {
            "format": snap.LEARNED_FORMAT,
            "version": snap.VERSION,
            "user_id": state.user_id,
            "clusters": state.corrections.to_dict(),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
