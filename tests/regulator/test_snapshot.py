"""Snapshots: lossless round trips (property-tested), typed errors for corrupted or foreign ones."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.regulator import (
    LLMEvent,
    Regulator,
    SnapshotError,
    SnapshotVersionError,
)

WORDS = ["login", "bug", "billing", "refactor", "async", "修复", "错误", "connexion", "corrigé", ""]
TOOLS = ["search", "read", "edit"]

events = st.one_of(
    st.builds(
        LLMEvent.turn_start,
        st.lists(st.sampled_from(WORDS), max_size=5).map(" ".join),
        new_task=st.booleans(),
    ),
    st.builds(
        LLMEvent.token,
        st.text(max_size=4),
        st.one_of(st.none(), st.floats(max_value=0.0, allow_nan=False)),
        st.integers(0, 20),
    ),
    st.builds(LLMEvent.turn_complete, st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)),
    st.builds(LLMEvent.cost, st.integers(0, 500), st.integers(0, 3000), st.integers(0, 9)),
    st.builds(LLMEvent.quality_feedback, st.floats(0.0, 1.0)),
    st.builds(LLMEvent.user_correction, st.text(max_size=10), st.booleans()),
    st.builds(
        LLMEvent.tool_call,
        st.sampled_from(TOOLS),
        st.one_of(st.none(), st.sampled_from(['{"a": 1}', '{"a":1}', "not json", "[1, 2]"])),
    ),
    st.builds(LLMEvent.tool_result, st.sampled_from(TOOLS), st.booleans(), st.floats(0, 100)),
)


def regulator() -> Regulator:
    clock = iter(range(10**9)).__next__
    return (
        Regulator.for_user("prop", clock=lambda: float(clock()))
        .with_cost_cap(2000)
        .with_implicit_correction_window(5)
        .with_correction_memory(min_corrections=2, max_clusters=4, max_examples=2)
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(events, max_size=40), st.lists(events, max_size=15))
def test_export_import_is_lossless(before: list[LLMEvent], after: list[LLMEvent]) -> None:
    original = regulator()
    for ev in before:
        original.on_event(ev)
    text = original.export_json()
    restored = Regulator.from_json(text)

    assert restored.export_json() == text
    assert restored.decide() == original.decide()
    assert restored.tool_counts_by_name() == original.tool_counts_by_name()
    assert restored.patterns() == original.patterns()
    # the two go on identically (the implicit window's clock aside: give both the same one)
    clock_a = iter(range(10**6, 10**9)).__next__
    clock_b = iter(range(10**6, 10**9)).__next__
    original._clock = lambda: float(clock_a())
    restored._clock = lambda: float(clock_b())
    for ev in after:
        original.on_event(ev)
        restored.on_event(ev)
        assert restored.decide() == original.decide()
    assert restored.export_json() == original.export_json()


def test_malformed_json_is_a_value_error() -> None:
    with pytest.raises(SnapshotError, match="not valid JSON") as err:
        Regulator.from_json('{"format": "tether.regulator", ')
    assert isinstance(err.value, ValueError)


def test_a_snapshot_of_another_version_is_refused_by_name() -> None:
    data = json.loads(Regulator.for_user("a").export_json())
    data["version"] = 99
    with pytest.raises(SnapshotVersionError) as err:
        Regulator.from_json(json.dumps(data))
    assert (err.value.found, err.value.expected) == (99, 1)
    assert isinstance(err.value, ValueError)
    again = pickle.loads(pickle.dumps(err.value))
    assert (again.found, again.expected) == (99, 1)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["turn", "index"], -1, "turn.index"),
        (["task", "cost_quality", "qualities"], [0.5, 1.5], r"qualities\[1\]"),
        (["learned"], [["c", 0, []]], r"learned\[0\]\[1\]"),
        (["settings", "cost_cap_tokens"], "lots", "settings.cost_cap_tokens"),
        (["task", "halt"], {"kind": "bored"}, "task.halt"),
        (["turn", "loops", "warning"], ["t", 1, "spiral", 3], "loop pattern"),
        (["user_id"], None, "user_id"),
    ],
)
def test_a_corrupted_field_is_named(path: list[str], value: object, message: str) -> None:
    reg = Regulator.for_user("a")
    reg.on_event(LLMEvent.turn_start("fix the login bug"))
    data = json.loads(reg.export_json())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(SnapshotError, match=message):
        Regulator.from_json(json.dumps(data))


def test_missing_and_unknown_fields_are_refused() -> None:
    data = json.loads(Regulator.for_user("a").export_json())
    del data["task"]
    with pytest.raises(SnapshotError, match="missing task"):
        Regulator.from_json(json.dumps(data))
    data = json.loads(Regulator.for_user("a").export_json())
    data["turn"]["extra"] = 1
    with pytest.raises(SnapshotError, match="unknown extra"):
        Regulator.from_json(json.dumps(data))
    with pytest.raises(SnapshotError, match=r"not a tether\.regulator snapshot"):
        Regulator.from_json("[1, 2, 3]")
    with pytest.raises(SnapshotError):
        Regulator.from_json(12)  # type: ignore[arg-type]


def test_a_noos_snapshot_brings_its_learned_patterns() -> None:
    noos_export = json.dumps(
        {
            "user_id": "alice",
            "learned": {"gain_mode": "neutral", "tick": 8},
            "correction_patterns": {
                "database+fetch_user": {
                    "user_id": "alice",
                    "topic_cluster": "database+fetch_user",
                    "pattern_name": "corrections_on_database+fetch_user",
                    "learned_from_turns": 4,
                    "confidence": 0.2,
                    "example_corrections": ["newest", "middle", "oldest"],
                }
            },
        }
    )
    reg = Regulator.from_json(noos_export)
    assert reg.user_id == "alice"
    [pattern] = reg.patterns()
    assert pattern.topic_cluster == "database+fetch_user"
    assert pattern.learned_from_turns == 4
    assert pattern.example_corrections == ("newest", "middle", "oldest")
