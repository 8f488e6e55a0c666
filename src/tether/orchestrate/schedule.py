"""When an automation's slots fall: fixed-rate intervals and cron lines with time zones.

No I/O and no clock here: every function takes the time it reasons about (Unix seconds), so
a daylight-saving day, a 12-hour outage or a busy run are tested by passing numbers.

Slots are **fixed-rate** (start to start): an ``--every 15m`` automation has a slot at every
multiple of 15 minutes since the Unix epoch, whatever its runs took, so every scheduler sharing
a home computes the same slots and a long run never pushes the next one later ("sleep after the
run" drifts by the run's length each time; this does not).

Cron lines go through `cronsim <https://pypi.org/project/cronsim/>`_ (the parser behind
healthchecks.io), chosen over croniter because it gets daylight-saving days right: a daily
``30 2 * * *`` job in Europe/Berlin fires **once** on the autumn change (at the first 02:30,
CEST), where croniter 7.0 fires it twice (02:30 CEST and 02:30 CET); on the spring change both
run it at 03:00 CEST. ``tests/orchestrate/test_schedule.py`` checks both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tether.orchestrate.errors import AutomationConfigError

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = [
    "MIN_INTERVAL_S",
    "Cron",
    "Every",
    "Schedule",
    "parse_duration",
    "parse_interval",
    "parse_timezone",
    "slots_between",
]

MIN_INTERVAL_S = 10.0
"""The shortest interval accepted without ``force`` (seconds)."""

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def parse_duration(text: str | float | int | timedelta, *, where: str) -> float:
    """A duration in seconds from ``"90s"``, ``"15m"``, ``"1h30m"``, ``"2d"``, a number of
    seconds or a :class:`~datetime.timedelta`; zero is allowed (use :func:`parse_interval`
    for intervals).

    Args:
        text: the duration.
        where: the file and key or the flag it came from, for the error.

    Raises:
        AutomationConfigError: not a duration (``"5x"``, ``"-1s"``, ``""``), naming ``where``.
    """
    if isinstance(text, timedelta):
        seconds = text.total_seconds()
    elif isinstance(text, bool):
        raise AutomationConfigError(where, f"expected a duration like '15m', got {text!r}")
    elif isinstance(text, int | float):
        seconds = float(text)
    elif isinstance(text, str):
        value = text.strip().lower().replace(" ", "")
        pos, seconds = 0, 0.0
        for match in _DURATION.finditer(value):
            if match.start() != pos:
                break
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        if not value or pos != len(value):
            raise AutomationConfigError(
                where,
                f"{text!r} is not a duration; write a number with a unit: ms, s, m, h, d, w "
                "(e.g. '90s', '15m', '1h30m')",
            )
    else:
        raise AutomationConfigError(where, f"expected a duration like '15m', got {text!r}")
    if seconds < 0:
        raise AutomationConfigError(where, f"{text!r}: a duration cannot be negative")
    return seconds


def parse_interval(
    text: str | float | int | timedelta, *, where: str, force: bool = False
) -> float:
    """An interval in seconds (see :func:`parse_duration`), refused when zero, or below
    :data:`MIN_INTERVAL_S` unless ``force``.

    Raises:
        AutomationConfigError: not a duration, ``0s``, or too short (names ``where``).
    """
    seconds = parse_duration(text, where=where)
    if seconds <= 0:
        raise AutomationConfigError(where, f"{text!r}: an interval must be longer than zero")
    if seconds < MIN_INTERVAL_S and not force:
        raise AutomationConfigError(
            where,
            f"{text!r} is shorter than {MIN_INTERVAL_S:g}s; pass --force (or 'force: true') "
            "if you mean it",
        )
    return seconds


def parse_timezone(name: str, *, where: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``"Europe/Berlin"``, ``"UTC"``).

    Raises:
        AutomationConfigError: unknown zone, naming ``where``.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AutomationConfigError(
            where, f"unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None


@dataclass(frozen=True)
class Every:
    """Fixed-rate slots every ``interval_s`` seconds, at multiples of it since the Unix epoch
    (``15m`` slots fall at :00, :15, :30 and :45 UTC).

    Build it with :meth:`parse` to get the checks; the constructor trusts its argument.
    """

    interval_s: float

    @classmethod
    def parse(cls, text: str | float | timedelta, *, where: str, force: bool = False) -> Every:
        """``Every`` from ``"15m"`` (see :func:`parse_interval` for the errors)."""
        return cls(parse_interval(text, where=where, force=force))

    def next_after(self, t: float) -> float:
        """The first slot strictly after ``t`` (Unix seconds)."""
        k = t // self.interval_s + 1
        return k * self.interval_s

    def latest_at(self, t: float) -> float:
        """The last slot at or before ``t``."""
        return (t // self.interval_s) * self.interval_s

    def describe(self) -> str:
        """``every 900s``."""
        return f"every {self.interval_s:g}s"


@dataclass(frozen=True)
class Cron:
    """Slots of a 5-field cron line in a time zone (``"30 2 * * *"`` in ``Europe/Berlin``).

    Daylight-saving days: a time that occurs twice (autumn) fires once, at its first
    occurrence; a time that does not exist (spring) fires at the first minute after the gap.
    """

    expr: str
    tz: str = "UTC"

    @classmethod
    def parse(cls, expr: str, tz: str = "UTC", *, where: str, tz_where: str = "") -> Cron:
        """``Cron`` after checking the line and the zone.

        Args:
            expr: five fields ``minute hour day-of-month month day-of-week``, or a macro
                (``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly``).
            tz: an IANA time zone.
            where: the file and key or flag of ``expr``, for the error.
            tz_where: the same for ``tz`` (default: ``where``).

        Raises:
            AutomationConfigError: not five fields (a 6-field line with seconds is refused),
                a field out of range, a date that never occurs (``0 0 31 2 *``), or an
                unknown zone.
        """
        from cronsim import CronSim, CronSimError

        zone = parse_timezone(tz, where=tz_where or where)
        line = _MACROS.get(expr.strip().lower(), expr.strip())
        fields = line.split()
        if len(fields) != 5:
            raise AutomationConfigError(
                where,
                f"cron {expr!r} has {len(fields)} fields; write five: minute hour day-of-month "
                "month day-of-week (e.g. '0 2 * * *')",
            )
        try:
            next(CronSim(line, datetime.now(zone)))
        except CronSimError as exc:
            raise AutomationConfigError(where, f"cron {expr!r}: {exc}") from None
        except StopIteration:  # pragma: no cover - cronsim raises CronSimError first
            raise AutomationConfigError(where, f"cron {expr!r} never fires") from None
        return cls(line, tz)

    def times_from(self, t: float) -> Iterator[datetime]:
        """Slot times from the minute of ``t`` on (may include ``t`` itself; callers filter)."""
        from zoneinfo import ZoneInfo

        from cronsim import CronSim

        zone = ZoneInfo(self.tz)
        # cronsim works in whole minutes and yields times strictly after its start.
        start = datetime.fromtimestamp(t, UTC).astimezone(zone).replace(second=0, microsecond=0)
        return CronSim(self.expr, start)

    def next_after(self, t: float) -> float:
        """The first slot strictly after ``t`` (Unix seconds)."""
        for when in self.times_from(t):
            stamp = when.timestamp()
            if stamp > t:
                return stamp
        raise AssertionError("unreachable")  # pragma: no cover

    def latest_at(self, t: float) -> float:
        """The last slot at or before ``t`` (searched back over up to 400 days)."""
        from zoneinfo import ZoneInfo

        from cronsim import CronSim

        zone = ZoneInfo(self.tz)
        start = datetime.fromtimestamp(t, UTC).astimezone(zone) + timedelta(minutes=1)
        for when in CronSim(self.expr, start.replace(second=0, microsecond=0), reverse=True):
            stamp = when.timestamp()
            if stamp <= t:
                return stamp
        raise AssertionError("unreachable")  # pragma: no cover

    def describe(self) -> str:
        """``cron '30 2 * * *' Europe/Berlin``."""
        return f"cron {self.expr!r} {self.tz}"


Schedule = Every | Cron
"""Either kind of schedule; both have ``next_after(t)``, ``latest_at(t)`` and ``describe()``."""


def slots_between(schedule: Schedule, after: float, until: float) -> list[float]:
    """Every slot ``s`` with ``after < s <= until`` (Unix seconds), oldest first.

    Raises:
        ValueError: more than 100 000 slots (ask for a shorter span).
    """
    out: list[float] = []
    if isinstance(schedule, Cron):
        for when in schedule.times_from(after):
            s = when.timestamp()
            if s <= after:
                continue
            if s > until:
                break
            out.append(s)
            if len(out) > 100_000:
                raise ValueError("more than 100000 slots in the span; ask for a shorter one")
        return out
    s = schedule.next_after(after)
    while s <= until:
        out.append(s)
        if len(out) > 100_000:
            raise ValueError("more than 100000 slots in the span; ask for a shorter one")
        s = schedule.next_after(s)
    return out
