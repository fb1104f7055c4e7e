"""Per-task scheduling policies and what they decide for a task's due rows. Pure.

A task's policies say what happens to a fire time that comes due while an earlier run of the
same task is still in flight (`OverlapPolicy`), and to fire times already late by more than
`misfire_grace_s` when a distributor first sees them, after an outage or a long pause
(`MisfirePolicy`). A fire time a policy decides not to run is recorded `Skipped` with a
`SkipReason`; it needs no compute. docs/scheduling.md compares them with Kubernetes CronJob,
APScheduler and Airflow.

The defaults (`allow`, `run_all`) are Headway's behaviour without policies: every fire time
runs, however late and however many runs of the task are in flight. Rows of a task with other
policies are claimed by `decide_claims`, one task at a time under the task's lock, so the
decision holds across any number of distributors; the rows of the tasks sharing an ordering
key are decided together by `decide_key_claims`, under the key's lock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from engine.core.forecast import floor_minute

DEFAULT_MISFIRE_GRACE_S = 60


class OverlapPolicy(StrEnum):
    ALLOW = "allow"  # run it alongside the earlier run
    SKIP = "skip"  # record it Skipped (reason "overlap")
    QUEUE = "queue"  # keep it Scheduled until the earlier run ends, then run it


class MisfirePolicy(StrEnum):
    RUN_ALL = "run_all"  # run every missed fire time
    RUN_LATEST = "run_latest"  # run the latest due fire time once; the others are "coalesced"
    SKIP_MISSED = "skip_missed"  # run none of the missed fire times ("missed")


class SkipReason(StrEnum):
    OVERLAP = "overlap"
    COALESCED = "coalesced"
    MISSED = "missed"


@dataclass(frozen=True, slots=True)
class TaskPolicies:
    overlap: OverlapPolicy = OverlapPolicy.ALLOW
    misfire: MisfirePolicy = MisfirePolicy.RUN_ALL
    misfire_grace_s: int = DEFAULT_MISFIRE_GRACE_S

    @classmethod
    def of(cls, overlap: str, misfire: str, misfire_grace_s: int | None) -> TaskPolicies:
        """From stored values; a NULL grace is the default one."""
        grace = DEFAULT_MISFIRE_GRACE_S if misfire_grace_s is None else misfire_grace_s
        return cls(OverlapPolicy(overlap), MisfirePolicy(misfire), grace)

    @property
    def claimed_by_policy(self) -> bool:
        """Whether the task's rows need `decide_claims`; with the defaults every due row is
        simply claimed, and the distributor's ordinary claim does so without reading the task."""
        return self.overlap is not OverlapPolicy.ALLOW or self.misfire is not MisfirePolicy.RUN_ALL


@dataclass(frozen=True, slots=True)
class DueRow:
    schedule_id: int
    scheduled_time: datetime


@dataclass(frozen=True, slots=True)
class ClaimDecision:
    """For one task's due rows: those to claim (queue for a run), those to record Skipped
    with their reason; any row in neither stays Scheduled for a later claim."""

    claim: tuple[int, ...] = ()
    skip: tuple[tuple[int, SkipReason], ...] = ()


def is_missed(scheduled_time: datetime, now: datetime, misfire_grace_s: int) -> bool:
    """Late by more than the grace: at `now` 12:00:30 with a 30 s grace, a fire time of
    12:00:00 is on time (exactly 30 s late) and one of 11:59:59 is missed."""
    return now - scheduled_time > timedelta(seconds=misfire_grace_s)


def decide_claims(
    policies: TaskPolicies, due: Sequence[DueRow], in_flight: bool, now: datetime
) -> ClaimDecision:
    """What to do at `now` with one task's `due` rows (`Scheduled`, scheduled at or before
    `now`), given whether an earlier run of the task is `in_flight` (Queued, Running, or
    Failed with a retry pending).

    The misfire policy first chooses the candidates among the due rows:
    - `run_all`: all of them;
    - `run_latest`: if any is missed, only the latest due row, the others Skipped "coalesced";
      with none missed, all of them (a distributor a few seconds behind coalesces nothing);
    - `skip_missed`: the rows still within the grace; the missed ones Skipped "missed".

    Then the overlap policy runs the candidates, oldest first:
    - `allow`: claims every candidate;
    - `skip`: claims the first one if nothing is in flight; every other candidate would start
      while an earlier run is in flight, so it is Skipped "overlap";
    - `queue`: claims the first one if nothing is in flight; the others stay Scheduled.

    Example: `skip` and `run_latest` with a 60 s grace at 12:10, due rows at 12:00, 12:05 and
    12:10, nothing in flight: 12:10 is claimed, 12:00 and 12:05 are Skipped "coalesced".
    """
    candidates, skip = _misfire_candidates(policies, due, now)
    if policies.overlap is OverlapPolicy.ALLOW:
        return ClaimDecision(tuple(row.schedule_id for row in candidates), tuple(skip))
    first, rest = ([], candidates) if in_flight else (candidates[:1], candidates[1:])
    if policies.overlap is OverlapPolicy.SKIP:
        skip += [(row.schedule_id, SkipReason.OVERLAP) for row in rest]
    return ClaimDecision(tuple(row.schedule_id for row in first), tuple(skip))


def _misfire_candidates(
    policies: TaskPolicies, due: Sequence[DueRow], now: datetime
) -> tuple[list[DueRow], list[tuple[int, SkipReason]]]:
    """The misfire step of `decide_claims`: the candidates, oldest first, and the rows it skips."""
    rows = sorted(due, key=lambda row: (row.scheduled_time, row.schedule_id))
    grace = policies.misfire_grace_s
    missed = [row for row in rows if is_missed(row.scheduled_time, now, grace)]
    if policies.misfire is MisfirePolicy.RUN_LATEST and missed:
        return rows[-1:], [(row.schedule_id, SkipReason.COALESCED) for row in rows[:-1]]
    if policies.misfire is MisfirePolicy.SKIP_MISSED:
        kept = [row for row in rows if row not in missed]
        return kept, [(row.schedule_id, SkipReason.MISSED) for row in missed]
    return rows, []


def decide_key_claims(
    due: Mapping[int, Sequence[DueRow]],
    policies: Mapping[int, TaskPolicies],
    in_flight: Collection[int],
    now: datetime,
) -> ClaimDecision:
    """What to do at `now` with the due rows of the tasks sharing one ordering key (`due`, by
    task id), given the tasks of the key with a run `in_flight` (Queued, Running, or Failed
    with a retry pending) and each task's `policies` (a task absent has the defaults).

    Each task's misfire policy first chooses its candidates, as in `decide_claims`; a row that
    waited its turn in the key past the grace is missed like one found late after an outage.
    Then its overlap policy: `skip` keeps its earliest candidate, to wait its turn, while no
    run of the task is in flight, and none while one is; the others are Skipped "overlap", so
    at most one run of the task is pending in the key. `queue` and `allow` keep every
    candidate waiting in order: the key already runs them one at a time. Last, if nothing of
    the key is in flight, the key claims its earliest candidate (`pick_next_in_order`).

    Of the tasks with the defaults only the key's earliest due row can matter, so a caller
    may give that one alone. Example at 12:10, nothing in flight: task 1 (`skip`,
    `run_latest`, 60 s grace) due at 12:00, 12:05 and 12:10 (ids 1, 2, 3), task 2 (defaults)
    due at 12:07 (id 4): 1 and 2 are Skipped "coalesced", 4 is claimed, 3 waits its turn.
    """
    skip: list[tuple[int, SkipReason]] = []
    waiting: list[DueRow] = []
    for task_id, rows in sorted(due.items()):
        task_policies = policies.get(task_id, TaskPolicies())
        candidates, missed = _misfire_candidates(task_policies, rows, now)
        skip += missed
        if task_policies.overlap is OverlapPolicy.SKIP:
            kept = [] if task_id in in_flight else candidates[:1]
            skip += [(row.schedule_id, SkipReason.OVERLAP) for row in candidates[len(kept) :]]
            candidates = kept
        waiting += candidates
    picked = pick_next_in_order(waiting, in_flight=bool(in_flight))
    return ClaimDecision(() if picked is None else (picked,), tuple(skip))


def pick_next_in_order(due: Sequence[DueRow], in_flight: bool) -> int | None:
    """The row of an ordering key to start next: none while a run of the key is in flight,
    else the earliest due row (ties by id). Example: rows due at 12:00 (id 7) and 11:59
    (id 9), nothing in flight: 9."""
    if in_flight or not due:
        return None
    return min(due, key=lambda row: (row.scheduled_time, row.schedule_id)).schedule_id


def starts_under_skip(fire_times: Sequence[int], expected_duration: int) -> list[int]:
    """The fire times of an `overlap: skip` task that run when each run lasts
    `expected_duration` (same unit as the fire times) and starts at its fire time: a fire time
    before the previous run's expected end is skipped. The forecast of what a skip task
    costs: `starts_under_skip([0, 60, 120, 180, 240], 150)` is `[0, 180]`."""
    kept: list[int] = []
    for fire_time in sorted(fire_times):
        if not kept or fire_time >= kept[-1] + expected_duration:
            kept.append(fire_time)
    return kept


def skipped_under_skip(fire_times: Sequence[datetime], expected_duration: timedelta) -> list[datetime]:
    """The fire times of an `overlap: skip` task that `starts_under_skip` leaves out, for
    instants: with runs of 150 s, fire times at 12:00, 12:01, 12:02 and 12:03 skip 12:01 and
    12:02."""
    if not fire_times:
        return []
    origin = min(fire_times)
    unit = timedelta(microseconds=1)
    offsets = {time: (time - origin) // unit for time in fire_times}
    kept = set(starts_under_skip(list(offsets.values()), expected_duration // unit))
    return sorted(time for time, offset in offsets.items() if offset not in kept)


def counts_without_skipped(
    counts: Mapping[tuple[datetime, str], int],
    skip_tasks: Mapping[tuple[int, str], list[datetime]],
    compute_ms_by_type: Mapping[str, int],
) -> dict[tuple[datetime, str], int]:
    """Per-(minute, type) counts of planned runs less the fire times of each `overlap: skip`
    task (`skip_tasks`: (task id, type) -> its fire times) that `skipped_under_skip` expects
    skipped, each run lasting its type's compute. Fire times read from before the counts'
    minutes only tell which of theirs are skipped. Example: counts of 1 at 12:00 to 12:03, one
    skip task firing then with a compute of 150 s: 12:01 and 12:02 drop to 0."""
    left = dict(counts)
    for (_, task_type), times in skip_tasks.items():
        expected = timedelta(milliseconds=compute_ms_by_type.get(task_type, 0))
        for skipped in skipped_under_skip(times, expected):
            key = (floor_minute(skipped), task_type)
            if key in left:
                left[key] = max(0, left[key] - 1)
    return left


def combination_problem(
    kind: str, overlap: OverlapPolicy, misfire: MisfirePolicy, misfire_grace_s: int | None
) -> tuple[str, str] | None:
    """(field, message) for policies that cannot mean anything for the task, or None.

    Overlap and misfire policies are about a cron task's fire times: an immediate or once
    task has a single one. A grace given with `run_all` would change nothing, so it is
    refused rather than silently ignored.
    """
    if kind != "cron":
        if overlap is not OverlapPolicy.ALLOW:
            return "overlap_policy", "overlap_policy is only for cron tasks"
        if misfire is not MisfirePolicy.RUN_ALL:
            return "misfire_policy", "misfire_policy is only for cron tasks"
    if misfire_grace_s is not None and misfire is MisfirePolicy.RUN_ALL:
        return "misfire_grace_s", "misfire_grace_s needs misfire_policy run_latest or skip_missed"
    return None
