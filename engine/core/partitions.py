"""Which time partitions the history tables should have, and which may go. Pure.

On PostgreSQL `task_schedule` and `task_runs` are partitioned by `scheduled_time` (a run
carries its schedule row's) into weekly ranges `[Monday 00:00 UTC, next Monday)`, with the
same bounds in both tables. A week is the compromise between two costs: a query that names
no time (the processor's writes by id) probes every partition's index, so partitions should
be few; and a partition is dropped only once its whole range is older than the retention,
so it outlives its newest row by up to its width. With 30 days of retention that is about
six partitions holding up to five weeks of history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PARTITION_WIDTH = timedelta(days=7)
# Partitions exist from the current week through this far ahead, so that the rows the
# Scheduler materialises (a day or so ahead) always find theirs; rows beyond (a `once` task
# years away) go to the default partition until their week is created. No further: every
# statement that names no week (a finish, a sweep, the update half of a claim) is planned
# over each partition and its indexes, empty or not. Three empty weeks more cost the
# 10,000-task end-to-end burst a tenth of PostgreSQL's CPU (6 bursts each way, README).
# A week's lead still leaves the Scheduler days to be down before rows wait in the default
# partition (where they are claimed and run all the same).
PARTITIONS_AHEAD = timedelta(days=7)
# Ranges are aligned on this Monday, so every week starts on a Monday at 00:00 UTC.
_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)


@dataclass(frozen=True, slots=True, order=True)
class TimeRange:
    """`start <= scheduled_time < end`, both instants in UTC."""

    start: datetime
    end: datetime


def range_containing(instant: datetime, width: timedelta = PARTITION_WIDTH) -> TimeRange:
    """The partition range that holds `instant`.

    Example: `range_containing(2026-12-03T10:00Z)` (a Thursday) is
    `[2026-11-30T00:00Z, 2026-12-07T00:00Z)`.
    """
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    steps = (instant - _ORIGIN) // width
    start = _ORIGIN + steps * width
    return TimeRange(start, start + width)


def ranges_to_create(now: datetime, ahead: timedelta = PARTITIONS_AHEAD) -> list[TimeRange]:
    """The ranges that must exist at `now`: the one holding `now` through the one holding
    `now + ahead`, oldest first. Ranges in the past are never created (their rows, if any
    arrive, go to the default partition).

    Example: at 2026-12-03T10:00Z with 28 days ahead: the five weeks starting 2026-11-30,
    12-07, 12-14, 12-21 and 12-28; with the default 7 days: 2026-11-30 and 12-07.
    """
    ranges = [range_containing(now)]
    last = range_containing(now + ahead)
    while ranges[-1] < last:
        ranges.append(TimeRange(ranges[-1].end, ranges[-1].end + (ranges[-1].end - ranges[-1].start)))
    return ranges


def droppable_ranges(existing: list[TimeRange], cutoff: datetime) -> list[TimeRange]:
    """The existing ranges wholly before `cutoff` (`end <= cutoff`), oldest first: every row
    in them is scheduled before the cutoff. Whether each row may go is decided row by row
    (engine.core.retention): those that may not are kept, elsewhere.

    Example: with a cutoff of 2026-11-03T10:00Z the week [10-26, 11-02) may go, the week
    [11-02, 11-09) may not (a row scheduled on 11-08 is younger than the retention).
    """
    return sorted(r for r in existing if r.end <= cutoff)


def partition_name(table: str, time_range: TimeRange) -> str:
    """`task_schedule_p20261130` for the week starting 2026-11-30."""
    return f"{table}_p{time_range.start.astimezone(UTC):%Y%m%d}"


def default_partition_name(table: str) -> str:
    return f"{table}_default"
