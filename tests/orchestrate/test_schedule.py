"""Slots: fixed-rate intervals, cron lines on daylight-saving days, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tether.errors import ConfigError
from tether.orchestrate.errors import AutomationConfigError
from tether.orchestrate.schedule import (
    Cron,
    Every,
    parse_duration,
    parse_interval,
    slots_between,
)

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, BERLIN).isoformat()


def test_durations_read_units_and_compounds() -> None:
    assert parse_duration("90s", where="x") == 90
    assert parse_duration("15m", where="x") == 900
    assert parse_duration("1h30m", where="x") == 5400
    assert parse_duration("2d", where="x") == 172800
    assert parse_duration(5, where="x") == 5.0
    assert parse_duration("0s", where="x") == 0


@pytest.mark.parametrize("text", ["5x", "", "15", "m", "1h 30x", "-1s", "1.5.2s"])
def test_bad_durations_name_the_flag(text: str) -> None:
    with pytest.raises(AutomationConfigError, match=r"^--every: ") as info:
        parse_interval(text, where="--every")
    assert isinstance(info.value, ConfigError)  # the CLI's bad-input family


def test_zero_and_short_intervals_are_refused_unless_forced() -> None:
    with pytest.raises(AutomationConfigError, match="longer than zero"):
        parse_interval("0s", where="--every")
    with pytest.raises(AutomationConfigError, match="--force"):
        parse_interval("2s", where="--every")
    assert parse_interval("2s", where="--every", force=True) == 2.0
    assert parse_interval("10s", where="--every") == 10.0


def test_interval_slots_are_fixed_rate_multiples_of_the_interval() -> None:
    every = Every.parse("15m", where="x")
    t = datetime(2026, 5, 1, 10, 7, 31, tzinfo=UTC).timestamp()
    nxt = every.next_after(t)
    assert datetime.fromtimestamp(nxt, UTC).strftime("%H:%M:%S") == "10:15:00"
    assert every.next_after(nxt) == nxt + 900  # start to start, whatever a run took
    assert every.latest_at(t) == nxt - 900
    assert slots_between(every, nxt - 900, nxt + 1800) == [nxt, nxt + 900, nxt + 1800]


def test_daily_0230_berlin_fires_once_on_the_autumn_change() -> None:
    cron = Cron.parse("30 2 * * *", "Europe/Berlin", where="x")
    fired = slots_between(cron, berlin(2026, 10, 24, 12, 0), berlin(2026, 10, 26, 12, 0))
    assert [local(s) for s in fired] == [
        "2026-10-25T02:30:00+02:00",  # the first 02:30 (CEST); the repeated hour does not fire
        "2026-10-26T02:30:00+01:00",
    ]
    assert fired[1] - fired[0] == 25 * 3600  # the day is 25 hours long


def test_daily_0230_berlin_on_the_spring_change_runs_after_the_gap() -> None:
    cron = Cron.parse("30 2 * * *", "Europe/Berlin", where="x")
    fired = slots_between(cron, berlin(2026, 3, 28, 12, 0), berlin(2026, 3, 30, 12, 0))
    assert [local(s) for s in fired] == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]


def test_croniter_fires_the_autumn_slot_twice_which_is_why_cronsim_was_chosen() -> None:
    croniter = pytest.importorskip("croniter").croniter
    it = croniter("30 2 * * *", datetime(2026, 10, 24, 12, 0, tzinfo=BERLIN))
    fired = [it.get_next(datetime).isoformat() for _ in range(2)]
    assert fired == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]


def test_cron_latest_at_and_hourly_macro() -> None:
    cron = Cron.parse("@hourly", where="x")
    t = datetime(2026, 1, 1, 5, 59, 59, tzinfo=UTC).timestamp()
    assert datetime.fromtimestamp(cron.latest_at(t), UTC).hour == 5
    assert datetime.fromtimestamp(cron.next_after(t), UTC).hour == 6


@pytest.mark.parametrize(
    ("expr", "tz", "message"),
    [
        ("0 2 * * * *", "UTC", r"^automations/a.yaml: key 'cron': .*6 fields; write five"),
        ("0 0 31 2 *", "UTC", r"^automations/a.yaml: key 'cron': .*day-of-month"),
        ("61 * * * *", "UTC", r"^automations/a.yaml: key 'cron': .*minute"),
        ("0 2 * * *", "Mars/Olympus", r"^automations/a.yaml: key 'tz': unknown time zone"),
    ],
)
def test_bad_cron_lines_and_zones_name_the_key(expr: str, tz: str, message: str) -> None:
    with pytest.raises(AutomationConfigError, match=message):
        Cron.parse(
            expr,
            tz,
            where="automations/a.yaml: key 'cron'",
            tz_where="automations/a.yaml: key 'tz'",
        )
