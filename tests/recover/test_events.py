"""Recovery events: one frozen class per kind, dispatched by type, readable as ``kind``/``data``."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from tether.recover import events
from tether.recover.events import (
    AttemptStarted,
    ExplorerStep,
    GaveUp,
    NeedsYou,
    RecoveryEvent,
    RuleApplied,
    event_from,
)

SRC = Path(events.__file__).resolve().parent.parent

SAMPLES: dict[str, dict[str, Any]] = {
    "attempt": {"rule": "r", "level": 1, "number": 1, "captures": {"path": "a"}},
    "retry": {"rule": "r", "level": 1, "attempt": 1, "attempts": 3, "delay_s": 1.0},
    "rolled_back": {"rule": "r", "undone": ["removed a"]},
    "applied": {"rule": "r", "steps": [("noop", True, None)], "error": None},
    "progress": {"rule": "r", "level": 1},
    "rule_failed": {"rule": "r", "outcome": "failure", "error": None},
    "recovered": {"rule": "r", "level": 2},
    "gave_up": {"reason": "no rule matches this failure", "attempts": 0},
    "needs_you": {"reason": "resolve the conflict", "attempts": 1},
    "explore_skipped": {"reason": "no model"},
    "explore_cached": {"rule": "r"},
    "explore_start": {"model": "m", "escalate": False, "max_tokens": 10, "max_tool_calls": 5},
    "explore": {"type": "tool_call", "name": "read_file", "anything": [1, 2]},
    "explore_end": {
        "outcome": "submitted",
        "reason": "",
        "tokens": 12,
        "duration_s": 0.5,
        "tool_calls": 2,
        "action_code": None,
        "rejections": 0,
    },
    "promoted": {"rule": "r", "files": ["rules/r.rule.yaml"]},
    "explore_rejected": {"rule": "r", "reason": "failure"},
}


def test_every_kind_has_a_class_and_a_sample() -> None:
    assert set(typing.get_args(events.EventKind)) == set(SAMPLES)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_an_event_made_from_kind_and_data_reads_back_the_same(kind: str) -> None:
    event = event_from(kind, SAMPLES[kind])
    assert isinstance(event, RecoveryEvent)
    assert event.kind == kind and event.data == SAMPLES[kind]
    assert type(event).__name__ in repr(event)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.rule = "other"  # type: ignore[attr-defined]


def test_the_explorer_step_hands_on_the_loop_event_itself() -> None:
    detail = {"type": "llm_call", "tokens": 3}
    assert event_from("explore", detail).data is detail
    assert ExplorerStep(detail).kind == "explore"


def test_bad_kinds_and_fields_are_named() -> None:
    with pytest.raises(ValueError, match="unknown recovery event kind 'exploded'"):
        event_from("exploded", {})
    with pytest.raises(ValueError, match="'gave_up' takes the fields reason, attempts"):
        event_from("gave_up", {"reason": "x"})


def describe(event: RecoveryEvent) -> str:
    match event:
        case AttemptStarted(rule=rule, level=level):
            return f"trying {rule} at {level}"
        case GaveUp(reason=reason) | NeedsYou(reason=reason):
            return f"stopped: {reason}"
        case RuleApplied(steps=steps):
            return f"{len(steps)} step(s)"
    return event.kind


def test_consumers_dispatch_on_the_type() -> None:
    assert describe(AttemptStarted("r", 2, 1, {})) == "trying r at 2"
    assert describe(NeedsYou("resolve it", 1)) == "stopped: resolve it"
    assert describe(event_from("applied", SAMPLES["applied"])) == "1 step(s)"
    assert describe(event_from("promoted", SAMPLES["promoted"])) == "promoted"


def test_every_kind_emitted_in_the_code_is_an_event_kind() -> None:
    """The explorer session emits by kind name; each name it uses must have its class."""
    emitted: set[str] = set()
    for path in (SRC / "explore").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        emitted.update(re.findall(r"emit\(\s*\"([a-z_]+)\"", text))
    assert emitted, "no emit(kind, ...) calls found: the scan is broken"
    assert emitted <= set(SAMPLES)
