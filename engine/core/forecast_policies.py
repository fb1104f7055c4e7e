"""What `queue` overlap, ordering keys and dependencies do to the forecast's per-minute counts.
Pure: the planned runs and each type's expected compute come in, moved counts go out.

Each run is expected to last its type's compute (the average of a year of runs, or
`expected_duration_ms`), and to succeed:
- a `queue` task's runs serialise: a fire time before its previous run's expected end starts
  at that end (`serialised_starts`);
- the tasks of an ordering key serialise the same way, all together, in scheduled order, a
  keyed `overlap: skip` task's fire times due while its previous run is expected to hold or
  wait for the key left out (`starts_in_key`);
- an `after` task runs once per run of its upstream, at that run's expected end (its start,
  moved as above, plus its type's compute), and so on down a chain (`dependent_starts`).

The chain itself is walked by `chain_runs`, which the simulator shares: there a run's attempts
are drawn (a run may fail, be retried after the engine's backoff, and fail for good), so an
upstream's end is its last attempt's, and `on: success` dependents follow succeeded runs only.

Like the `skip` forecast (`engine.core.policies.counts_without_skipped`), the serialisation
counts from the first fire time in the window: a run already going is not looked at.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from heapq import heappop, heappush
from itertools import count

from engine.core.dependencies import DependencyTrigger, triggers
from engine.core.forecast import floor_minute
from engine.core.policies import DueRow, MisfirePolicy, OverlapPolicy, SkipReason, TaskPolicies, decide_claims
from engine.core.retry import DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS, compute_backoff_ms
from engine.core.types import ScheduleStatus


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
    starts = starts_in_key([(fire_time, duration, None) for fire_time, duration in runs])
    return [start for start in starts if start is not None]


def starts_in_key(runs: Sequence[tuple[int, int, int | None]]) -> list[int | None]:
    """`serialised_starts` for the runs of an ordering key ((fire time, expected duration,
    skip task) triples, sorted by fire time), where the third item names the task of a run
    whose task has `overlap: skip` (None for the others). As the engine skips such a task's
    fire time while its earlier run is in flight or waits its turn in the key
    (`engine.core.policies.decide_key_claims`), a run of a skip task whose fire time is before
    the expected end of that task's previous run is expected Skipped (None) and holds nothing.
    Example: task 1 (skip) at 0 and 60 s, task 2 at 10 s, runs of 100 s: task 1 starts at 0,
    task 2 at 100 s, task 1's 60 s is skipped (its run at 0 ends at 100 s)."""
    starts: list[int | None] = []
    previous_end: int | None = None
    task_end: dict[int, int] = {}
    for fire_time, duration, skip_task in runs:
        if skip_task is not None and fire_time < task_end.get(skip_task, fire_time):
            starts.append(None)
            continue
        start = fire_time if previous_end is None else max(fire_time, previous_end)
        starts.append(start)
        previous_end = start + duration
        if skip_task is not None:
            task_end[skip_task] = previous_end
    return starts


def _duration(task_type: str, compute_ms_by_type: Mapping[str, int]) -> timedelta:
    return timedelta(milliseconds=compute_ms_by_type.get(task_type, 0))


def serialised_moves(
    groups: Iterable[Sequence[PlannedRun]],
    compute_ms_by_type: Mapping[str, int],
    skip_tasks: Collection[int] = (),
) -> dict[PlannedRun, datetime | None]:
    """The expected start of each run of each group whose runs serialise (a `queue` task's
    runs; an ordering key's runs), by `starts_in_key` in scheduled order (ties by task): None
    for a run of a task of `skip_tasks` (`overlap: skip` tasks under a key) expected Skipped."""
    starts: dict[PlannedRun, datetime | None] = {}
    unit = timedelta(microseconds=1)
    for group in groups:
        ordered = sorted(group, key=lambda run: (run.fire_time, run.task_id))
        if not ordered:
            continue
        origin = ordered[0].fire_time
        triples = [
            (
                (run.fire_time - origin) // unit,
                _duration(run.task_type, compute_ms_by_type) // unit,
                run.task_id if run.task_id in skip_tasks else None,
            )
            for run in ordered
        ]
        offsets = starts_in_key(triples)
        starts.update(
            (run, None if offset is None else origin + offset * unit)
            for run, offset in zip(ordered, offsets, strict=True)
        )
    return starts


@dataclass(frozen=True, slots=True)
class Attempts:
    """A run's attempts as expected: their run times (the first attempt's first) and whether
    the last one succeeded. The forecast's runs are one attempt of the type's compute."""

    run_times_us: tuple[int, ...]
    succeeded: bool = True


@dataclass(frozen=True, slots=True)
class ChainedRun:
    """A run placed by `chain_runs`: its task, when it was due (its fire time, or its upstream
    run's end), its expected start (later when its key held it), the index in the result of
    the run it follows (None for a scheduled run) and, for a run with dependents or an ordering
    key, its attempts. A fire time expected Skipped has its `skipped` reason, and `start_us`
    is then its due time (it never starts).

    The engine counts a run's start lag from when it was due, however long it waited: a run
    due at 60 s that its key holds until 90 s has `due_us` 60 s and `start_us` 90 s."""

    task: int
    due_us: int
    start_us: int
    upstream: int | None = None
    attempts: Attempts | None = None
    skipped: SkipReason | None = None


# Any fixed instant: `misfire_skips` hands `decide_claims` offsets from it.
_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


def misfire_skips(policies: TaskPolicies, due_us: Sequence[int], now_us: int) -> dict[int, SkipReason]:
    """The fire times of one task still waiting at `now_us` (offsets, in microseconds, at or
    before it) that its misfire policy skips, by index in `due_us`: the misfire step of
    `engine.core.policies.decide_claims` (the overlap policy is the caller's). Example with
    `skip_missed` and a 10 s grace at 90 s: fire times 0 and 60 s give `{0: MISSED}`; with
    `run_latest`, `{0: COALESCED}`, and with a 60 s grace nothing."""
    rows = [DueRow(index, _ORIGIN + timedelta(microseconds=due)) for index, due in enumerate(due_us)]
    decision = decide_claims(
        replace(policies, overlap=OverlapPolicy.ALLOW),
        rows,
        in_flight=False,
        now=_ORIGIN + timedelta(microseconds=now_us),
    )
    return dict(decision.skip)


def final_end_us(start_us: int, attempts: Attempts, base_ms: int, max_ms: int) -> int:
    """When a run's last attempt ends, each retry starting as soon as its backoff
    (`compute_backoff_ms`) after the attempt before is over. Example: a start at 0, attempts of
    2 s and 3 s and a 1 s base end at 2 + 1 + 3 = 6 s (in microseconds)."""
    backoffs_ms = sum(compute_backoff_ms(k, base_ms, max_ms) for k in range(1, len(attempts.run_times_us)))
    return start_us + sum(attempts.run_times_us) + backoffs_ms * 1_000


def chain_runs(
    scheduled: Iterable[tuple[int, int]],
    dependents: Mapping[int, Sequence[tuple[int, DependencyTrigger]]],
    attempts_of: Callable[[int], Attempts],
    end_us: int,
    keys: Mapping[int, str] | None = None,
    backoff_ms: tuple[int, int] = (DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS),
    skip_copies: Mapping[int, int] | None = None,
    misfire: Mapping[int, tuple[TaskPolicies, Sequence[int]]] | None = None,
) -> list[ChainedRun]:
    """Every run before `end_us` of the tasks in a dependency chain or under an ordering key, in
    due order (ties by task): the `scheduled` runs ((due, task) pairs) and the runs they set off.

    A run whose task has dependents (`dependents[task]`: (task, trigger) pairs, one per copy)
    or an ordering key gets its attempts from `attempts_of(task)`; it ends after them and the
    backoffs between them (`final_end_us`), and each dependent whose trigger its final outcome
    meets (a last attempt that failed is a dead letter: `engine.core.dependencies.triggers`) is
    due at that end. A task under a key (`keys[task]`) starts at its due time or when the key's
    previous run ends, whichever is later (`serialised_starts`, with the runs that chains add
    joining in due order): a pending retry holds the key, as in the engine. Runs due or moved
    to `end_us` or later leave. Example: A scheduled at 0 with one 60 s attempt, B after A on
    success: A at 0, B at 60 s; had A's only attempt failed, A alone.

    A keyed task of `skip_copies` (`overlap: skip`: task -> its identical copies, each due at
    each of the task's due times) skips a due time at which every copy's previous run still
    holds or waits for the key, as `starts_in_key` does for one copy (`skipped` "overlap").

    A keyed task of `misfire` (task -> its policies and its distinct due times, sorted) has a
    due time that waited for the key decided when the key frees, as the engine's
    `decide_key_claims` does (`misfire_skips`): with `skip_missed`, one waited past the grace
    is `skipped` "missed" and holds nothing; with `run_latest`, once one has, the task's due
    times up to then but the latest are "coalesced". Example: runs of 90 s every minute under
    one key with `skip_missed` and a 10 s grace: 0 runs, 60 s would start at 90 s, 30 s late,
    and is missed; 120 s runs, 180 s is missed, and so on."""
    keys = keys or {}
    skip_copies = skip_copies or {}
    misfire = misfire or {}
    pending: dict[int, list[int]] = {}  # per skip task, a heap of its copies' expected ends
    coalesced_before: dict[int, int] = {}  # per run_latest task: due times before it coalesced
    order = count()
    due: list[tuple[int, int, int, int | None, int]] = []  # due, task, order, upstream, depth
    for due_us, task in scheduled:
        heappush(due, (due_us, task, next(order), None, 0))
    key_free: dict[str, int] = {}
    placed: list[ChainedRun] = []
    while due:
        due_us, task, _, upstream, depth = heappop(due)
        start = due_us
        copies = pending.setdefault(task, []) if task in skip_copies else None
        if task in keys:
            if copies is not None and len(copies) >= skip_copies[task]:
                if copies[0] > start:
                    # Every copy's earlier run is pending: this due time is skipped.
                    placed.append(ChainedRun(task, due_us, due_us, skipped=SkipReason.OVERLAP))
                    continue
                heappop(copies)
            start = max(start, key_free.get(keys[task], start))
        if start >= end_us:
            continue  # a later run of its key starts later still
        if task in misfire and upstream is None:
            reason = _misfire_reason(misfire[task], due_us, start, coalesced_before, task)
            if reason is not None:
                placed.append(ChainedRun(task, due_us, due_us, skipped=reason))
                if copies is not None:
                    heappush(copies, start)
                continue
        followers = dependents.get(task, ())
        # A chain is no longer than the dependencies (no cycle is ever stored; the bound only
        # keeps a corrupt graph from looping).
        follows = bool(followers) and depth <= len(dependents)
        attempts = attempts_of(task) if follows or task in keys else None
        ends = start if attempts is None else final_end_us(start, attempts, *backoff_ms)
        if task in keys:
            key_free[keys[task]] = ends
            if copies is not None:
                heappush(copies, ends)
        if attempts is not None and follows:
            outcome = ScheduleStatus.SUCCEEDED if attempts.succeeded else ScheduleStatus.DEAD
            for follower, on in followers:
                if ends < end_us and triggers(on, outcome, retry_pending=False):
                    heappush(due, (ends, follower, next(order), len(placed), depth + 1))
        placed.append(ChainedRun(task, due_us, start, upstream, attempts))
    return placed


def _misfire_reason(
    misfire: tuple[TaskPolicies, Sequence[int]],
    due_us: int,
    now_us: int,
    coalesced_before: dict[int, int],
    task: int,
) -> SkipReason | None:
    """Whether the task's due time `due_us`, its earliest still waiting, is skipped when its key
    frees at `now_us`: decided with the task's due times waiting then (`misfire_skips`). A
    `run_latest` decision that coalesces covers the task's due times up to the latest one
    waiting, which it records in `coalesced_before`."""
    policies, due_times = misfire
    if policies.misfire is MisfirePolicy.RUN_ALL:
        return None
    if due_us < coalesced_before.get(task, due_us):
        return SkipReason.COALESCED
    waiting = due_times[bisect_left(due_times, due_us) : bisect_right(due_times, now_us)] or [due_us]
    reason = misfire_skips(policies, waiting, now_us).get(0)
    if reason is SkipReason.COALESCED:
        coalesced_before[task] = waiting[-1]
    return reason


def dependent_starts(
    upstream_starts: Mapping[PlannedRun, datetime],
    dependents: Mapping[int, Sequence[tuple[int, str]]],
    compute_ms_by_type: Mapping[str, int],
    end: datetime,
) -> list[tuple[PlannedRun, datetime]]:
    """The runs `after` tasks are expected to get before `end`: for each upstream run (its
    expected start), each dependent (`dependents[upstream task id]`: (task id, type) pairs)
    starts at the upstream's expected end, then its own dependents after it, down the chain
    (`chain_runs`, every run one successful attempt of its type's compute). The planned run of
    a dependent carries its expected start as its fire time.

    Example: A (type of 60 s) starting 12:00, B after A (30 s), C after B: B at 12:01, C at
    12:01:30."""
    if not upstream_starts:
        return []
    unit = timedelta(microseconds=1)
    origin = min(upstream_starts.values())
    types = {run.task_id: run.task_type for run in upstream_starts}
    types.update((task_id, task_type) for follows in dependents.values() for task_id, task_type in follows)
    chained = chain_runs(
        [((start - origin) // unit, run.task_id) for run, start in upstream_starts.items()],
        {
            task_id: [(follower, DependencyTrigger.FINISHED) for follower, _ in follows]
            for task_id, follows in dependents.items()
        },
        lambda task_id: Attempts((_duration(types[task_id], compute_ms_by_type) // unit,)),
        (end - origin) // unit,
    )
    found = []
    for run in chained:
        if run.upstream is not None:
            start = origin + run.start_us * unit
            found.append((PlannedRun(run.task, types[run.task], start), start))
    return sorted(found, key=lambda pair: (pair[1], pair[0].task_id))


def counts_with_policies(
    counts: Mapping[tuple[datetime, str], int],
    serialised: Iterable[Sequence[PlannedRun]],
    upstream_runs: Sequence[PlannedRun],
    dependents: Mapping[int, Sequence[tuple[int, str]]],
    compute_ms_by_type: Mapping[str, int],
    end: datetime,
    skip_tasks: Collection[int] = (),
) -> dict[tuple[datetime, str], int]:
    """Per-(minute, type) counts with each serialised run moved from its fire time's minute to
    its expected start's (`serialised_moves`; `serialised`: the `queue` tasks' runs, one group
    per task, and the ordering keys' runs, one group per key, in which the runs of `skip_tasks`
    expected Skipped leave), and the runs `after` tasks are expected to get added
    (`dependent_starts`, from the upstreams' runs in the window, `upstream_runs`, moved first if
    they serialise). Runs moved to or after `end` leave the window. Example: a queue task of
    150 s at 12:00, 12:01, 12:02: counts of 1 at 12:00, 12:01, 12:02 become 1 at 12:00, 1 at
    12:02 and none at 12:01 (12:05 is beyond an `end` of 12:03).
    """
    moved: Counter[tuple[datetime, str]] = Counter(counts)
    starts = serialised_moves(serialised, compute_ms_by_type, skip_tasks)
    for run, start in starts.items():
        before = (floor_minute(run.fire_time), run.task_type)
        if moved[before] > 0 and (start is None or floor_minute(start) != before[0]):
            moved[before] -= 1
            if start is not None and start < end:
                moved[(floor_minute(start), run.task_type)] += 1
    upstream_starts = {
        run: start
        for run in upstream_runs
        if (start := starts.get(run, run.fire_time)) is not None  # a skipped run triggers nothing
    }
    for run, start in dependent_starts(upstream_starts, dependents, compute_ms_by_type, end):
        moved[(floor_minute(start), run.task_type)] += 1
    return {key: count for key, count in moved.items() if count > 0}
