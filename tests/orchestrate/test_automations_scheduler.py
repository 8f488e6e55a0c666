"""The scheduler on a real store with an injected clock: outages, overlap, budgets, DST, inbox.

Every test runs on both backends (a SQLite file, then a fresh PostgreSQL schema: skipped
locally without a server, see ``any_store_url`` in conftest)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tether.orchestrate import (
    Automation,
    AutomationBudget,
    Cron,
    Every,
    Inbox,
    RunRecord,
    Scheduler,
    Slot,
    history,
)
from tether.orchestrate.scheduler import jitter_for
from tether.store import Store, open_store

T0 = datetime(2026, 6, 1, 0, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Runs:
    """A scripted run_automation: records each slot, answers from ``outcome``."""

    def __init__(self, outcome: Callable[[Slot], RunRecord] | None = None) -> None:
        self.slots: list[Slot] = []
        self.outcome = outcome or (lambda s: RunRecord(ok=True, status="SUCCESS", cost_usd=0.5))

    def __call__(self, automation: Automation, slot: Slot) -> RunRecord:
        self.slots.append(slot)
        return self.outcome(slot)


@pytest.fixture
def store(any_store_url: str) -> Iterator[Store]:
    opened = open_store(url=any_store_url)
    yield opened
    opened.close()


def hourly(**kw: object) -> Automation:
    return Automation("hourly", Every(HOUR), "tidy up", created_s=T0 - 1, **kw)  # type: ignore[arg-type]


def statuses(store: Store, name: str = "hourly") -> list[tuple[str, str]]:
    return [
        (datetime.fromtimestamp(r.slot_s, UTC).strftime("%H:%M"), r.status)
        for r in reversed(history(store, name, limit=None))
    ]


def test_on_time_slots_run_once_each(store: Store) -> None:
    clock, runs = Clock(T0 + 0.2), Runs()
    sched = Scheduler(store, [hourly()], runs, clock=clock)
    assert [s for s, _ in sched.tick()] == [runs.slots[0]]
    assert sched.tick() == []  # the same slot is not run twice
    clock.t = T0 + HOUR + 0.1
    sched.tick()
    assert statuses(store) == [("00:00", "ran"), ("01:00", "ran")]
    assert [s.catchup for s in runs.slots] == [False, False]


def test_after_a_12_hour_outage_one_catchup_runs_and_every_other_slot_is_missed(
    store: Store,
) -> None:
    clock, runs = Clock(T0 + 0.1), Runs()
    sched = Scheduler(store, [hourly()], runs, clock=clock)
    sched.tick()
    clock.t = T0 + 12 * HOUR + 600  # down from 00:00 to 12:10
    sched.tick()
    got = statuses(store)
    assert got[0] == ("00:00", "ran")
    assert got[-1] == ("12:00", "ran")  # the newest late slot: the one catch-up run
    assert [st for _, st in got[1:-1]] == ["missed"] * 11
    assert runs.slots[-1].catchup
    missed = history(store, "hourly", limit=None)[1]
    assert "max_catchup_runs" in missed.reason


def test_catchup_window_and_max_catchup_runs_are_honoured(store: Store) -> None:
    a = hourly(max_catchup_runs=3, catchup_window_s=2.5 * HOUR)
    clock, runs = Clock(T0 + 0.1), Runs()
    sched = Scheduler(store, [a], runs, clock=clock)
    sched.tick()
    clock.t = T0 + 6 * HOUR + 1800  # 06:30: slots 01..06 are late; 04:00-06:00 in the window
    assert [st for _, st in sched.tick()] == ["ran", "ran", "ran"]
    assert statuses(store) == [
        ("00:00", "ran"),
        ("01:00", "missed"),
        ("02:00", "missed"),
        ("03:00", "missed"),
        ("04:00", "ran"),  # 2.5 h old: inside the window
        ("05:00", "ran"),
        ("06:00", "ran"),  # the three catch-ups ran one after the other
    ]
    assert [s.catchup for s in runs.slots[1:]] == [True, True, True]
    # no catch-up at all when max_catchup_runs is 0
    b = replace(hourly(max_catchup_runs=0), name="strict")
    sched2 = Scheduler(store, [b], Runs(), clock=clock)
    clock.t = T0 + 0.1
    sched2.tick()
    clock.t = T0 + 3 * HOUR + 900
    sched2.tick()
    assert [st for _, st in statuses(store, "strict")] == ["ran", "missed", "missed", "missed"]


def test_overlap_skip_buffer_one_and_allow(store: Store) -> None:
    clock = Clock(T0 + 0.1)
    release = threading.Event()
    started: list[str] = []

    def slow(automation: Automation, slot: Slot) -> RunRecord:
        started.append(f"{automation.name}@{slot.slot_s - T0:g}")
        release.wait(5)
        return RunRecord(ok=True, status="SUCCESS")

    autos = [
        replace(hourly(overlap=policy, wall_clock_s=9 * HOUR), name=policy.replace("_", "-"))  # type: ignore[arg-type]
        for policy in ("skip", "buffer_one", "allow")
    ]
    sched = Scheduler(store, autos, slow, clock=clock)
    first = sched.plan()
    threads = [threading.Thread(target=sched.execute, args=(s,)) for s in first]
    for t in threads:
        t.start()
    for minutes in (1, 2, 3):  # three more slots while the 00:00 runs are still running
        clock.t = T0 + minutes * HOUR + 0.1
        for s in sched.plan():
            threads.append(threading.Thread(target=sched.execute, args=(s,)))
            threads[-1].start()
    release.set()
    for t in threads:
        t.join()
    assert [st for _, st in statuses(store, "skip")] == ["ran", "skipped", "skipped", "skipped"]
    assert "overlap: skip" in history(store, "skip")[0].reason
    # buffer_one: 01:00 waits, 02:00 and 03:00 are skipped, 01:00 runs when 00:00 ends
    assert [st for _, st in statuses(store, "buffer-one")] == ["ran", "ran", "skipped", "skipped"]
    assert [st for _, st in statuses(store, "allow")] == ["ran"] * 4
    assert sorted(started).count("buffer-one@3600") == 1


def test_window_budget_is_drawn_by_catchups_and_skips_when_spent(store: Store) -> None:
    a = hourly(budget=AutomationBudget(window_s=24 * HOUR, usd=1.2), max_catchup_runs=1)
    clock, runs = Clock(T0 + 0.1), Runs()
    sched = Scheduler(store, [a], runs, clock=clock)
    sched.tick()  # $0.50
    clock.t = T0 + 5 * HOUR + 600  # one catch-up (05:00): $0.50 more, at most $0.70 left
    sched.tick()
    assert runs.slots[-1].catchup and runs.slots[-1].cost_limit_usd == pytest.approx(0.7)
    clock.t = T0 + 6 * HOUR + 1
    sched.tick()  # $1.00 spent, $0.20 left: runs with a $0.20 ceiling
    assert runs.slots[-1].cost_limit_usd == pytest.approx(0.2)
    clock.t = T0 + 7 * HOUR + 1
    sched.tick()
    last = history(store, "hourly")[0]
    assert last.status == "skipped" and last.reason.startswith("budget:")
    assert len(runs.slots) == 3


def test_a_daily_berlin_job_runs_once_across_the_autumn_change(store: Store) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2026, 10, 24, 12, 0, tzinfo=berlin).timestamp()
    a = Automation("nightly", Cron("30 2 * * *", "Europe/Berlin"), "p", created_s=start)
    clock, runs = Clock(start), Runs()
    sched = Scheduler(store, [a], runs, clock=clock)
    end = datetime(2026, 10, 26, 12, 0, tzinfo=berlin).timestamp()
    while clock.t < end:  # a scheduler that looks every minute through the whole weekend
        sched.tick()
        clock.t += 60
    assert [datetime.fromtimestamp(s.slot_s, berlin).isoformat() for s in runs.slots] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]


def test_failed_and_raising_runs_are_recorded_and_deduplicated_in_the_inbox(store: Store) -> None:
    from tether.errors import MissingKey

    def outcome(slot: Slot) -> RunRecord:
        if slot.slot_s < T0 + 2 * HOUR:
            return RunRecord(ok=False, status="BUDGET_EXHAUSTED", reason="token_limit reached")
        raise MissingKey(
            "ANTHROPIC_API_KEY is not set", provider="anthropic", env=("ANTHROPIC_API_KEY",)
        )

    clock = Clock(T0 + 0.1)
    sched = Scheduler(store, [hourly()], Runs(outcome), clock=clock)
    for h in range(4):
        clock.t = T0 + h * HOUR + 0.1
        sched.tick()
    rows = history(store, "hourly", limit=None)
    assert [r.status for r in rows] == ["failed"] * 4
    assert rows[0].reason.startswith("MissingKey: ")
    assert rows[-1].reason == "BUDGET_EXHAUSTED: token_limit reached"
    items = {i.key: i for i in Inbox(store).list()}
    assert set(items) == {"automation:hourly:BUDGET_EXHAUSTED", "automation:hourly:MissingKey"}
    assert items["automation:hourly:BUDGET_EXHAUSTED"].count == 2
    assert items["automation:hourly:MissingKey"].count == 2
    assert items["automation:hourly:MissingKey"].run_ids == tuple(r.run_id for r in rows[1::-1])


def test_jitter_is_the_same_for_every_scheduler_and_delays_the_start(store: Store) -> None:
    a = hourly(jitter_s=120.0)
    j = jitter_for(a, T0)
    assert 0 <= j < 120 and j == jitter_for(replace(a), T0)
    clock, runs = Clock(T0 + j - 0.5), Runs()
    sched = Scheduler(store, [a], runs, clock=clock)
    assert sched.tick() == []
    assert sched.next_due(clock.t) == pytest.approx(T0 + j)
    clock.t = T0 + j + 0.01
    assert len(sched.tick()) == 1


def test_a_new_automation_does_not_record_slots_from_before_it_existed(store: Store) -> None:
    a = hourly()
    a = replace(a, created_s=T0 + 5 * HOUR + 10)
    clock = Clock(T0 + 5 * HOUR + 20)
    sched = Scheduler(store, [a], Runs(), clock=clock)
    assert sched.tick() == []
    assert history(store, "hourly") == []


def test_stale_running_rows_are_failed_with_an_inbox_item(store: Store) -> None:
    clock = Clock(T0 + 0.1)
    a = hourly(wall_clock_s=60.0)
    crashed = Scheduler(store, [a], Runs(), clock=clock, owner="gone:1")
    assert len(crashed.plan()) == 1  # claimed, then its process "died"
    clock.t = T0 + 1000
    Scheduler(store, [a], Runs(), clock=clock).plan()
    row = history(store, "hourly")[-1]
    assert row.status == "failed" and "gone:1" in row.reason
    assert Inbox(store).get("automation:hourly:ABANDONED").count == 1


def test_without_a_creation_time_slots_count_from_the_first_look(store: Store) -> None:
    a = Automation("fresh", Every(HOUR), "p")  # created_s=0: built in code
    clock, runs = Clock(T0 + 1800), Runs()
    sched = Scheduler(store, [a], runs, clock=clock)
    assert sched.tick() == [] and history(store, "fresh") == []  # no week of "missed" slots
    clock.t = T0 + HOUR + 0.1
    assert [st for _, st in sched.tick()] == ["ran"]


def test_a_minute_cron_after_a_day_down_records_its_misses_quickly(store: Store) -> None:
    import time

    a = Automation("minutely", Cron("* * * * *"), "p", created_s=T0 - 1)
    clock, runs = Clock(T0 + 0.5), Runs()
    sched = Scheduler(store, [a], runs, clock=clock)
    sched.tick()
    clock.t = T0 + 86400 + 0.5
    start = time.perf_counter()
    sched.tick()
    assert time.perf_counter() - start < 5.0
    rows = history(store, "minutely", limit=None)
    # the first run, the newest 1000 missed, the catch-up (23:59), then 00:00 on time
    assert len(rows) == 1 + 1000 + 1 + 1
    assert [r.status for r in rows[:3]] == ["ran", "ran", "missed"]
    assert rows[-1].status == "ran" and rows[-2].status == "missed"
