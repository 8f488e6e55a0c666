"""Focused behaviour of the Regulator: idempotence, accessors, bounds, big inputs, threads."""

from __future__ import annotations

import threading
import time

import pytest

import tether.regulator as public
from tether.regulator import (
    InvalidEventError,
    InvalidSettingError,
    LLMEvent,
    Regulator,
)
from tether.regulator.tokenize import keywords, stem, topic_cluster


def test_public_names_are_sorted_and_resolve() -> None:
    assert public.__all__ == sorted(public.__all__)
    for name in public.__all__:
        assert getattr(public, name) is not None


def test_decide_is_idempotent_and_changes_only_with_events() -> None:
    r = Regulator.for_user("u")
    r.on_event(LLMEvent.turn_start("Fix the login bug"))
    r.on_event(LLMEvent.turn_complete("tomatoes and gardening"))
    first = r.decide()
    assert first.kind == "scope_drift_warn"
    assert all(r.decide() is first for _ in range(5))
    assert r.export_json() == r.export_json()
    r.on_event(LLMEvent.turn_start("Fix the login bug"))
    assert r.decide().kind == "continue"


def test_accessors_report_the_turn_and_the_task() -> None:
    r = Regulator.for_user("u")
    r.on_event(LLMEvent.turn_start("run it"))
    r.on_event(LLMEvent.tool_call("a", '{"x": 1}'))
    r.on_event(LLMEvent.tool_result("a", False, 12.5, "boom"))
    r.on_event(LLMEvent.tool_call("b", "{not json"))
    r.on_event(LLMEvent.tool_result("b", True, 2))
    r.on_event(LLMEvent.cost(10, 300, 40))
    r.on_event(LLMEvent.quality_feedback(0.8))
    assert r.tool_counts_by_name() == {"a": 1, "b": 1}
    assert r.tool_total_calls() == 2
    assert r.tool_failure_count() == 1
    assert r.invalid_tool_call_count() == 1
    assert r.tool_total_duration_ms() == 14.5
    assert (r.total_tokens_in(), r.total_tokens_out()) == (10, 300)
    assert r.mean_quality() == 0.8
    r.on_event(LLMEvent.turn_start("next"))
    assert r.tool_counts_by_name() == {}
    assert r.total_tokens_out() == 300  # the task's spending carries over turns


def test_inject_corrections_is_a_no_op_without_a_pattern() -> None:
    r = Regulator.for_user("u")
    r.on_event(LLMEvent.turn_start("Write the release notes changelog"))
    assert r.inject_corrections("Write the release notes changelog") == (
        "Write the release notes changelog"
    )
    assert r.corrections_prelude() is None
    for text in ("shorter", "no emojis", "group by component"):
        r.on_event(LLMEvent.user_correction(text))
    prompt = r.inject_corrections("Write the release notes changelog for 2.0")
    assert prompt.index("group by component") < prompt.index("no emojis") < prompt.index("shorter")
    assert prompt.endswith("Write the release notes changelog for 2.0")
    # another topic: unchanged, even though the current turn has a pattern
    assert r.inject_corrections("Plan the kubernetes upgrade") == "Plan the kubernetes upgrade"


def test_learned_state_is_bounded_least_recently_used_first() -> None:
    r = Regulator.for_user("u").with_correction_memory(min_corrections=1, max_clusters=3)
    topics = ["alpha bravo", "charlie delta", "echo foxtrot", "golf hotel"]
    for topic in topics[:3]:
        r.on_event(LLMEvent.turn_start(topic))
        r.on_event(LLMEvent.user_correction(f"about {topic}"))
    r.on_event(LLMEvent.turn_start("alpha bravo"))  # used again: now the most recent
    r.on_event(LLMEvent.turn_start(topics[3]))
    r.on_event(LLMEvent.user_correction("about golf"))
    kept = [p.topic_cluster for p in r.patterns()]
    assert kept == ["golf+hotel", "alpha+bravo", "echo+foxtrot"]  # charlie+delta evicted


def test_per_turn_cost_stays_flat_as_topics_grow() -> None:
    r = Regulator.for_user("u").with_correction_memory(max_clusters=64)

    def run(start: int, n: int) -> float:
        t0 = time.perf_counter()
        for i in range(start, start + n):
            r.on_event(LLMEvent.turn_start(f"topic{i} subject{i} words"))
            r.on_event(LLMEvent.user_correction("no"))
            r.on_event(LLMEvent.turn_complete(f"topic{i} subject{i}"))
            r.decide()
        return time.perf_counter() - t0

    run(0, 500)  # warm
    early = run(500, 2000)
    late = run(50_000, 2000)
    assert len(r.patterns()) == 0 and len(r._state.corrections.clusters) == 64
    assert late < early * 3


def test_empty_and_multi_megabyte_strings() -> None:
    r = Regulator.for_user("u")
    r.on_event(LLMEvent.turn_start(""))
    r.on_event(LLMEvent.turn_complete(""))
    assert r.decide().kind == "continue"
    huge = "login bug " * 400_000  # 4 MB
    t0 = time.perf_counter()
    r.on_event(LLMEvent.turn_start("Fix the login bug"))
    r.on_event(LLMEvent.turn_complete(huge + " tomatoes"))
    r.on_event(LLMEvent.user_correction(huge))
    assert time.perf_counter() - t0 < 2.0
    assert r.decide().kind == "continue"
    assert len(Regulator.from_json(r.export_json()).export_json()) == len(r.export_json())


def test_unicode_tokenisation_folds_and_stems() -> None:
    assert keywords("Straße STRASSE").words() == ["strasse"]
    assert stem("refactored") == stem("refactoring") == stem("refactor")
    assert keywords("Corrigé").stems == keywords("corrige").stems
    assert keywords("修复登录").words() == ["修", "复", "录", "登"]
    assert keywords("the and of").stems == frozenset()
    assert topic_cluster(keywords("")) == ""


def test_on_event_refuses_what_is_not_an_event() -> None:
    r = Regulator.for_user("u")
    before = r.export_json()
    with pytest.raises(InvalidEventError, match="from_dict"):
        r.on_event({"kind": "turn_start", "user_message": "x"})  # type: ignore[arg-type]
    assert r.export_json() == before


@pytest.mark.parametrize(
    ("builder", "value"),
    [
        ("with_cost_cap", -1),
        ("with_cost_cap", 1.5),
        ("with_drift_threshold", 2.0),
        ("with_implicit_correction_window", 0),
        ("with_implicit_correction_window", float("nan")),
        ("with_low_confidence_threshold", -0.1),
    ],
)
def test_builders_refuse_values_out_of_range(builder: str, value: object) -> None:
    with pytest.raises(InvalidSettingError, match=builder):
        getattr(Regulator.for_user("u"), builder)(value)


def test_loop_warning_must_come_before_the_halt() -> None:
    with pytest.raises(InvalidSettingError, match="before its halt"):
        Regulator.for_user("u").with_loop_thresholds(warn_at=6, halt_at=5)


def test_threads_share_a_regulator_without_losing_events() -> None:
    r = Regulator.for_user("u").with_cost_cap(10**9)
    r.on_event(LLMEvent.turn_start("many threads"))
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for i in range(500):
                r.on_event(LLMEvent.cost(1, 1, 1))
                r.on_event(LLMEvent.tool_result(name, True, 1))
                if i % 50 == 0:
                    r.decide()
                    r.export_json()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert r.total_tokens_out() == 8 * 500
    assert r.tool_total_duration_ms() == 8 * 500


def test_event_dict_form_round_trips() -> None:
    for ev in (
        LLMEvent.turn_start("x", new_task=True),
        LLMEvent.token("a", -0.5, 3),
        LLMEvent.quality_feedback(0.4, [(0, 3)]),
        LLMEvent.tool_result("t", False, 3.5, "err"),
    ):
        assert LLMEvent.from_dict(ev.to_dict()) == ev
