"""Cron schedules: validation and expansion to UTC instants. Pure: time is passed in.

A schedule is an expression (see `engine.core.cron_parse` and `docs/cron.md`) read on the wall
clock of an IANA timezone. Expansion walks the local dates of a window, takes the matching
days from the compiled spec and adds the precomputed times of day. Days on which the zone's
UTC offset changes take a slow path that applies the DST policy of `docs/cron.md`:

- in a spring-forward gap a fixed-hour job (hour field not starting with `*`) fires once, at
  the first instant after the gap; a `*`-hour job skips the missing local times;
- in a fall-back overlap a fixed-hour job fires at the first occurrence only; a `*`-hour job
  fires in both.

Example: `30 2 * * *` in Europe/Berlin fires on 2026-03-29 at 01:00 UTC (03:00 local, the end
of the gap) and on 2026-10-25 at 00:30 UTC (02:30 CEST, the first of the two 02:30s).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.core.cron_parse import (
    MAX_EXPRESSION_LENGTH,
    CronError,
    CronSpec,
    compile_expression,
    month_day_mask,
)

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "MAX_TIMEZONE_LENGTH",
    "CronError",
    "CronSchedule",
    "CronSpec",
    "compile_expression",
    "fire_times",
    "next_fire_times",
    "parse_schedule",
    "validate_timezone",
]

MAX_TIMEZONE_LENGTH = 64
# The Gregorian calendar repeats every 400 years (146,097 days) and validation proves a date
# matches in some month shape, so a valid expression fires within this span of any instant.
SEARCH_HORIZON = timedelta(days=146_097 + 2)
# datetime cannot hold the UTC offsets of the first and last days of its range; windows are
# clamped inside it so local dates one day either side stay representable.
_EARLIEST = datetime(1, 1, 3, tzinfo=UTC)
_LATEST = datetime(9999, 12, 29, tzinfo=UTC)
_FIRST_DAY = date(1, 1, 2)
_LAST_DAY = date(9999, 12, 30)
_DAY = timedelta(days=1)
# These keys name whatever zone the host is set to, which a stored schedule must not depend on.
_HOST_ZONES = frozenset({"localtime", "posixrules"})


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """An expression and the IANA timezone whose wall clock it is read on."""

    expression: str
    timezone: str = "UTC"


def validate_timezone(name: str) -> ZoneInfo:
    """The zone called `name`, or `CronError("timezone", ...)`: `validate_timezone("Mars/Base")`
    raises "unknown timezone 'Mars/Base'". Names are IANA keys and case-sensitive."""
    if not isinstance(name, str) or not name:
        raise CronError("timezone", "timezone must be a non-empty name like 'Europe/Berlin'")
    if len(name) > MAX_TIMEZONE_LENGTH:
        raise CronError("timezone", f"timezone is longer than {MAX_TIMEZONE_LENGTH} characters")
    return _load_zone(name)


@lru_cache(maxsize=1024)
def _load_zone(name: str) -> ZoneInfo:
    if name in _HOST_ZONES:
        raise CronError("timezone", f"{name!r} depends on the host; use a name like 'Europe/Berlin'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        # OSError: a key naming a tzdata directory ("America") or an over-long path.
        raise CronError("timezone", f"unknown timezone {name!r}") from error


def parse_schedule(expression: str, timezone: str = "UTC") -> CronSchedule:
    """Validate both parts; raise `CronError` naming the field and the problem.

    `parse_schedule("0 9 * * mon-fri", "Europe/Berlin")` returns the schedule unchanged;
    `parse_schedule("0 0 30 2 *")` raises `CronError("cron_expression", "never fires:
    February has no day 30")`.
    """
    compile_expression(expression)
    validate_timezone(timezone)
    return CronSchedule(expression=expression, timezone=timezone)


def fire_times(schedule: CronSchedule, after: datetime, until: datetime) -> list[datetime]:
    """Every fire time t with after < t <= until, as aware UTC datetimes, ascending, distinct.

    `after` and `until` must be timezone-aware (`ValueError` otherwise). Example: `*/20 * * * *`
    with after = 10:00Z and until = 11:00Z gives 10:20Z, 10:40Z and 11:00Z.
    """
    spec = compile_expression(schedule.expression)
    zone = validate_timezone(schedule.timezone)
    start, end = _to_utc(after, "after"), _to_utc(until, "until")
    if end <= start:
        return []
    return _expand(spec, zone, start, end, None)


def next_fire_times(schedule: CronSchedule, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times strictly after `after`, as aware UTC datetimes, ascending.

    `count == 0` gives `[]`; a negative count is a caller's mistake and raises `ValueError`.
    The search is bounded by `SEARCH_HORIZON` (one Gregorian cycle), within which every valid
    expression fires; fewer than `count` come back only at the end of datetime's range (9999).
    Example: `0 0 29 2 *` after 2026-01-01Z gives 2028-02-29Z, then 2032-02-29Z.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    spec = compile_expression(schedule.expression)
    zone = validate_timezone(schedule.timezone)
    start = _to_utc(after, "after")
    if count == 0 or start >= _LATEST:
        return []
    end = _LATEST if start > _LATEST - SEARCH_HORIZON else start + SEARCH_HORIZON
    return _expand(spec, zone, start, end, count)[:count]


def _to_utc(instant: datetime, name: str) -> datetime:
    """`instant` in UTC, clamped to [_EARLIEST, _LATEST]: fire times in the first and last two
    days of datetime's range are not produced."""
    if not isinstance(instant, datetime) or instant.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {instant!r}")
    try:
        utc = instant.astimezone(UTC)
    except OverflowError:
        utc = _EARLIEST if instant.year == 1 else _LATEST
    return min(max(utc, _EARLIEST), _LATEST)


def _expand(
    spec: CronSpec, zone: ZoneInfo, after: datetime, until: datetime, limit: int | None
) -> list[datetime]:
    """Fire times in (after, until], ascending and distinct; stop early once `limit` are known.

    A day without an offset change is one slice of `spec.day_offsets` added to the UTC instant
    of its local midnight; its times lie between those of the days around it. Only a run of
    days with transitions can interleave (an overlap crossing midnight repeats wall times of
    the day before; a gap's end can equal the next day's first time), so such a run is
    gathered, then sorted and de-duplicated before the next plain day is added.
    """
    fires: list[datetime] = []
    pending: list[datetime] = []
    first_day = max(after.astimezone(zone).date() - _DAY, _FIRST_DAY)
    last_day = min(until.astimezone(zone).date() + _DAY, _LAST_DAY)
    offsets = spec.day_offsets
    for day in _matching_days(spec, first_day, last_day):
        utc_offset = _plain_offset(zone, day)
        if utc_offset is None:
            pending.extend(t for t in _transition_day(spec, zone, day) if after < t <= until)
            continue
        if pending:
            fires.extend(sorted(set(pending)))
            pending = []
        if limit is not None and len(fires) >= limit:
            break
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - utc_offset
        low = bisect_right(offsets, after - midnight)
        high = bisect_right(offsets, until - midnight)
        if limit is not None:
            high = min(high, low + limit - len(fires))
        fires.extend([midnight + offset for offset in offsets[low:high]])
        if limit is not None and len(fires) >= limit:
            break
    fires.extend(sorted(set(pending)))
    return fires


def _matching_days(spec: CronSpec, first: date, last: date) -> Iterator[date]:
    """Local dates in [first, last] that match the month and day fields, ascending."""
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        if spec.month_mask >> month & 1:
            mask = month_day_mask(spec, year, month)
            if (year, month) == (first.year, first.month):
                mask &= -1 << first.day
            if (year, month) == (last.year, last.month):
                mask &= (1 << (last.day + 1)) - 1
            while mask:
                lowest = mask & -mask
                mask ^= lowest
                yield date(year, month, lowest.bit_length() - 1)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


@lru_cache(maxsize=16384)
def _plain_offset(zone: ZoneInfo, day: date) -> timedelta | None:
    """The zone's UTC offset on `day` if it holds for every minute of it, else None.

    Probes the first and last minute of the day in both folds: a gap or overlap touching
    either makes the folds differ, and one inside the day changes the offset between them.
    tzdata has at most one transition per local day (checked for all zones 1900-2038), so two
    that cancel out cannot hide here.
    """
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    last_minute = midnight.replace(hour=23, minute=59)
    offset = midnight.utcoffset()
    for probe in (midnight.replace(fold=1), last_minute, last_minute.replace(fold=1)):
        if probe.utcoffset() != offset:
            return None
    return offset


def _transition_day(spec: CronSpec, zone: ZoneInfo, day: date) -> list[datetime]:
    """The fire times of a day on which the offset changes, applying the DST policy.

    Per PEP 495 a wall time in a gap maps with fold=0 to a later instant than with fold=1, and
    a repeated wall time maps with fold=0 to the earlier one; equal instants mean neither.
    """
    midnight = datetime(day.year, day.month, day.day)
    fires: list[datetime] = []
    gap_end: datetime | None = None
    for offset in spec.day_offsets:
        wall = (midnight + offset).replace(tzinfo=zone)
        fold0 = wall.astimezone(UTC)
        fold1 = wall.replace(fold=1).astimezone(UTC)
        if fold0 <= fold1:
            fires.append(fold0)
            if fold0 != fold1 and spec.hour_star:
                fires.append(fold1)
        elif not spec.hour_star:
            if gap_end is None or not fold1 < gap_end <= fold0:
                gap_end = _gap_end(zone, fold1, fold0)
            fires.append(gap_end)
    return fires


def _gap_end(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first instant after a forward jump that lies between `before` and `after`.

    Bisects whole seconds (tzdata transitions fall on them) for the first instant already on
    the new offset: about 12 probes for a one-hour gap. Berlin 2026-03-29 gives 01:00Z.
    """
    new_offset = after.astimezone(zone).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == new_offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)
