"""What `queue` overlap, ordering keys and dependencies do to the forecast's per-minute counts.
Pure: the planned runs and each type's expected compute come in, moved counts go out.

Each run is expected to last its type's compute (the average of a year of runs, or
`expected_duration_ms`), and to succeed:
- a `queue` task's runs serialise: a fire time before its previous run's expected end starts
  at that end (`serialised_starts`);
- the tasks of an ordering key serialise the same way, all together, in scheduled order;
- an `after` task runs once per run of its upstream, at that run's expected end (its start,
  moved as above, plus its type's compute), and so on down a chain (`dependent_starts`).

Like the `skip` forecast (`engine.core.policies.counts_without_skipped`), the serialisation
counts from the first fire time in the window: a run already going is not looked at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.core.forecast import floor_minute


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """A fire time of a task, as planned in the schedule."""

    task_id: int
    task_type: str
    fire_time: datetime


def serialised_starts(runs: Sequence[tuple[int, int]]) -> list[int]:
    """When runs that must not overlap start, in the order given ((fire time, expected
    duration) pairs in one unit, e.g. microseconds, sorted by fire time): each at its fire
    time or at the previous run's expected end, whichever is later. Example: fire times 0, 60
    and 120 s with runs of 150 s start at 0, 150 and 300 s."""
    starts: list[int] = []
    previous_end: int | None = None
    for fire_time, duration in runs:
        start = fire_time if previous_end is None else max(fire_time, previous_end)
        starts.append(start)
        previous_end = start + duration
    return starts


def _duration(task_type: str, compute_ms_by_type: Mapping[str, int]) -> timedelta:
    return timedelta(milliseconds=compute_ms_by_type.get(task_type, 0))


def serialised_moves(
    groups: Iterable[Sequence[PlannedRun]], compute_ms_by_type: Mapping[str, int]
) -> dict[PlannedRun, datetime]:
    """The expected start of each run of each group whose runs serialise (a `queue` task's
    runs; an ordering key's runs), by `serialised_starts` in scheduled order (ties by task)."""
    starts: dict[PlannedRun, datetime] = {}
    unit = timedelta(microseconds=1)
    for group in groups:
        ordered = sorted(group, key=lambda run: (run.fire_time, run.task_id))
        if not ordered:
            continue
        origin = ordered[0].fire_time
        pairs = [
            ((run.fire_time - origin) // unit, _duration(run.task_type, compute_ms_by_type) // unit)
            for run in ordered
        ]
        offsets = serialised_starts(pairs)
        starts.update((run, origin + offset * unit) for run, offset in zip(ordered, offsets, strict=True))
    return starts


def dependent_starts(
    upstream_starts: Mapping[PlannedRun, datetime],
    dependents: Mapping[int, Sequence[tuple[int, str]]],
    compute_ms_by_type: Mapping[str, int],
    end: datetime,
) -> list[tuple[PlannedRun, datetime]]:
    """The runs `after` tasks are expected to get before `end`: for each upstream run (its
    expected start), each dependent (`dependents[upstream task id]`: (task id, type) pairs)
    starts at the upstream's expected end, then its own dependents after it, down the chain.
    The planned run of a dependent carries its expected start as its fire time.

    Example: A (type of 60 s) starting 12:00, B after A (30 s), C after B: B at 12:01, C at
    12:01:30."""
    found: list[tuple[PlannedRun, datetime]] = []
    waiting = [(run, start, 0) for run, start in upstream_starts.items()]
    while waiting:
        run, start, depth = waiting.pop()
        ends = start + _duration(run.task_type, compute_ms_by_type)
        # A chain is no longer than the dependencies (no cycle is ever stored; the bound
        # only keeps a corrupt graph from looping).
        if ends >= end or depth > len(dependents):
            continue
        for task_id, task_type in dependents.get(run.task_id, ()):
            follower = PlannedRun(task_id, task_type, ends)
            found.append((follower, ends))
            waiting.append((follower, ends, depth + 1))
    return sorted(found, key=lambda pair: (pair[1], pair[0].task_id))


def counts_with_policies(
    counts: Mapping[tuple[datetime, str], int],
    serialised: Iterable[Sequence[PlannedRun]],
    upstream_runs: Sequence[PlannedRun],
    dependents: Mapping[int, Sequence[tuple[int, str]]],
    compute_ms_by_type: Mapping[str, int],
    end: datetime,
) -> dict[tuple[datetime, str], int]:
    """Per-(minute, type) counts with each serialised run moved from its fire time's minute to
    its expected start's (`serialised_moves`; `serialised`: the `queue` tasks' runs, one group
    per task, and the ordering keys' runs, one group per key), and the runs `after` tasks are
    expected to get added (`dependent_starts`, from the upstreams' runs in the window,
    `upstream_runs`, moved first if they serialise). Runs moved to or after `end` leave the
    window. Example: a queue task of 150 s at 12:00, 12:01, 12:02: counts of 1 at 12:00, 12:01,
    12:02 become 1 at 12:00, 1 at 12:02 and none at 12:01 (12:05 is beyond an `end` of 12:03).
    """
    moved: Counter[tuple[datetime, str]] = Counter(counts)
    starts = serialised_moves(serialised, compute_ms_by_type)
    for run, start in starts.items():
        before = (floor_minute(run.fire_time), run.task_type)
        if moved[before] > 0 and floor_minute(start) != before[0]:
            moved[before] -= 1
            if start < end:
                moved[(floor_minute(start), run.task_type)] += 1
    upstream_starts = {run: starts.get(run, run.fire_time) for run in upstream_runs}
    for run, start in dependent_starts(upstream_starts, dependents, compute_ms_by_type, end):
        moved[(floor_minute(start), run.task_type)] += 1
    return {key: count for key, count in moved.items() if count > 0}
