"""Expand a workload over a time window into sorted arrays: when each task is due, its type
and its sampled duration. Time is integer microseconds since the window start.

Cron fire times come from `engine.core.cron.fire_times`, once per distinct (expression, zone),
and are repeated `count` times; `run_at` tasks fall in or out of the window; `rate_per_min`
tasks are a Poisson process (uniform times given a Poisson total, the textbook construction).
Ties keep workload order, so `count` copies of a cron task are due in a row.

As the engine holds them (`engine.core.forecast_policies.chain_runs`, the forecast's walk), a
run being in flight until its last attempt ends, as drawn: each copy of an unkeyed `overlap:
queue` task starts a fire time when its previous run ends, if later, and each copy of an
unkeyed `overlap: skip` task skips the fire times before that end
(`simulation.chains.place_alone`; a type that cannot fail holds for its mean and draws
nothing). The runs of the tasks sharing an `ordering_key` (an `after` task's too) follow each
other the same way, each holding the key until its last attempt ends (a keyed `skip` task's
fire times due while its previous run holds or waits for the key left out), and an `after`
task is due at the end of each of its upstream's runs whose outcome it waits for, down a chain
(`simulation.chains`). A `queue` or keyed task's fire time that waited past the grace of its
`run_latest` or `skip_missed` policy is coalesced or missed, as the engine decides it
(`engine.core.policies.decide_claims`).

A run moved later keeps its fire time for its start lag (`Arrivals.lag_from_us`), as the
engine keeps `scheduled_time`; an `after` run's fire time is its upstream's end. The arrays
are sorted by when each run is due to start, where its compute is placed.

Fire times a policy skips are kept apart (`Arrivals.skips`, with the reason): they never run.
Then durations, and the attempts of types that can fail (`simulation.attempts`, with each
task's own `timeout_s` and `max_attempts`), are drawn per type in due order, except for the
runs whose attempts were drawn to place their dependents or hold their task or key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from engine.core.cron import CronSchedule, fire_times
from engine.core.forecast import floor_minute
from engine.core.forecast_policies import Attempts, ChainedRun
from engine.core.policies import OverlapPolicy, SkipReason
from simulation.attempts import AttemptModel, Retries, draw_attempts
from simulation.chains import Placed, draw_run, place_alone, place_chains
from simulation.defaults import ENGINE_DEFAULTS
from simulation.limits import MAX_HOURS, ScenarioError, check_size
from simulation.workload import Workload

US_PER_S = 1_000_000
US_PER_MIN = 60 * US_PER_S


@dataclass(frozen=True, slots=True)
class Window:
    """Whole UTC minutes `[start, start + minutes)`; build it with `window_for`."""

    start: datetime
    minutes: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes)

    @property
    def length_us(self) -> int:
        return self.minutes * US_PER_MIN


def window_for(start: datetime, hours: float) -> Window:
    """Floor `start` to its minute and keep the whole minutes of `hours`, as the forecast does:
    `window_for(10:04:37, 0.5)` covers 10:04:00 to 10:34:00. Raises ScenarioError for a window
    under a minute, over `MAX_HOURS`, or not inside the years 1 to 9999 with a day to spare."""
    if start.tzinfo is None:
        raise ScenarioError("start", "must be timezone-aware")
    if not (math.isfinite(hours) and 0 < hours <= MAX_HOURS):
        raise ScenarioError("hours", f"must be in (0, {MAX_HOURS:,}], got {hours}")
    minutes = int(timedelta(hours=hours) / timedelta(minutes=1))
    if minutes < 1:
        raise ScenarioError("hours", f"must cover at least one minute, got {hours}")
    try:
        # Cron expansion looks a little either side of the window.
        (start - timedelta(days=1), start + timedelta(minutes=minutes, days=1))
    except OverflowError as error:
        raise ScenarioError("start", f"the window must lie within the years 1 to 9999: {start}") from error
    return Window(floor_minute(start), minutes)


@dataclass(frozen=True, slots=True, eq=False)
class Skips:
    """Fire times a policy decides not to run, sorted: `due_us`, and `reasons`, the index of
    each one's reason in `tuple(SkipReason)` (overlap, coalesced, missed)."""

    due_us: np.ndarray
    reasons: np.ndarray

    @classmethod
    def none(cls) -> Skips:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8))

    def counts(self) -> dict[str, int]:
        """Skipped fire times by reason, every reason present: `{"overlap": 2, ...}`."""
        found = np.bincount(self.reasons, minlength=len(SkipReason))
        return {reason.value: int(n) for reason, n in zip(SkipReason, found, strict=True)}


@dataclass(frozen=True, slots=True, eq=False)
class Arrivals:
    """Tasks due in a window, sorted by `scheduled_us` (stable in workload order)."""

    scheduled_us: np.ndarray
    type_ids: np.ndarray
    duration_us: np.ndarray
    type_names: tuple[str, ...]
    retries: Retries = field(default_factory=Retries)
    # Immediate tasks (`rate_per_min`): created while the distributor sleeps, so they wait for
    # its next poll; scheduled ones it knows ahead (None: none are immediate).
    immediate: np.ndarray | None = None
    # Fire times expected Skipped (not run, so not in the arrays above).
    skips: Skips = field(default_factory=Skips.none)
    # When each task's start lag counts from, where a policy moved its run later than that
    # (None: no run was moved): a `queue` or keyed run keeps its fire time, an `after` run its
    # upstream's end, as the engine keeps `scheduled_time` and counts `start_lag_ms` from it.
    fire_us: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scheduled_us)

    @property
    def lag_from_us(self) -> np.ndarray:
        """When each task's start lag counts from: its fire time, even when it became due to
        start later (a `queue` run due at 60 s that starts at 90 s lags 30 s, not 0)."""
        return self.scheduled_us if self.fire_us is None else self.fire_us


def _offsets_us(instants: list[datetime], window: Window) -> np.ndarray:
    start = window.start
    return np.array([(t - start) // timedelta(microseconds=1) for t in instants], dtype=np.int64)


def expand(
    workload: Workload,
    window: Window,
    rng: np.random.Generator,
    backoff_ms: tuple[int, int] = (ENGINE_DEFAULTS.retry_base_ms, ENGINE_DEFAULTS.retry_max_ms),
) -> Arrivals:
    """Every task due in the window, with durations (and attempts) drawn from its type's model;
    `backoff_ms` is the engine's retry backoff (base, max), which delays an upstream's end.

    Example: `0 * * * *` with `count: 1000` over 3 hours gives 3,000 tasks, due in three
    blocks of 1,000 at offsets 0, 3,600 s and 7,200 s when the window starts on the hour.
    """
    type_names = tuple(workload.types)
    type_index = {name: index for index, name in enumerate(type_names)}
    fires: dict[CronSchedule, np.ndarray] = {}
    # The cron placeholder works on whole minutes, so "after one second before the start" and
    # "until one second before the end" give exactly the fire times in [start, end).
    after = window.start - timedelta(seconds=1)
    until = window.end - timedelta(seconds=1)
    placed = Placed({}, {})
    dues = placed.dues
    skipped: list[tuple[np.ndarray, SkipReason]] = []  # fire times expected Skipped, by reason
    held = 0
    for index, task in enumerate(workload.tasks):
        if task.after is not None:
            continue  # follows its upstream: below
        if task.schedule is not None:
            if task.schedule not in fires:
                fires[task.schedule] = _offsets_us(fire_times(task.schedule, after, until), window)
            offsets = fires[task.schedule]
            if task.ordering_key is None and task.overlap is not OverlapPolicy.ALLOW:
                # Each copy skips or queues its fire times behind its previous run's end.
                held = _place_alone(
                    workload, index, offsets, window.length_us, rng, backoff_ms, placed, skipped, held
                )
                continue
            # A keyed task's runs wait, and a skip task's skip, in its key: simulation.chains.
            held = check_size(held, len(offsets) * task.count, index, task.name)
            due = np.repeat(offsets, task.count)
        elif task.run_at is not None:
            inside = window.start <= task.run_at.astimezone(UTC) < window.end
            held = check_size(held, task.count if inside else 0, index, task.name)
            due = np.repeat(_offsets_us([task.run_at], window), task.count if inside else 0)
        else:
            assert task.rate_per_min is not None
            expected = task.rate_per_min * task.count * window.minutes
            check_size(held, math.ceil(expected), index, task.name)
            total = int(rng.poisson(expected))
            held = check_size(held, total, index, task.name)
            due = np.sort(rng.integers(0, window.length_us, total, dtype=np.int64))
        dues[index] = due
    skipped_in_keys = place_chains(workload, placed, window.length_us, rng, backoff_ms, held)
    skipped += [(np.array([due], dtype=np.int64), reason) for due, reason in skipped_in_keys]
    times = [dues[index] for index in range(len(workload.tasks))]
    fired = [placed.fires.get(index, dues[index]) for index in range(len(workload.tasks))]
    types = [
        np.full(len(due), type_index[task.task_type], dtype=np.int32)
        for due, task in zip(times, workload.tasks, strict=True)
    ]
    kinds = [
        np.full(len(due), task.rate_per_min is not None, dtype=bool)
        for due, task in zip(times, workload.tasks, strict=True)
    ]
    scheduled = np.concatenate(times) if times else np.zeros(0, dtype=np.int64)
    type_ids = np.concatenate(types) if types else np.zeros(0, dtype=np.int32)
    order = np.argsort(scheduled, kind="stable")
    scheduled, type_ids = scheduled[order], type_ids[order]
    immediate = np.concatenate(kinds)[order] if kinds else np.zeros(0, dtype=bool)
    owners = [np.full(len(due), index, dtype=np.int32) for index, due in enumerate(times)]
    task_ids = np.concatenate(owners)[order] if owners else np.zeros(0, dtype=np.int32)
    known = _drawn_positions(placed.attempts, [len(due) for due in times], order)
    durations, retries = _draw_durations(workload, type_names, type_ids, task_ids, known, rng)
    pairs = zip(fired, times, strict=True)
    moved = any(fire is not due and not np.array_equal(fire, due) for fire, due in pairs)
    return Arrivals(
        scheduled,
        type_ids,
        durations,
        type_names,
        retries,
        immediate if immediate.any() else None,
        _skips(skipped),
        np.concatenate(fired)[order] if moved else None,
    )


def _place_alone(
    workload: Workload,
    index: int,
    offsets: np.ndarray,
    window_us: int,
    rng: np.random.Generator,
    backoff_ms: tuple[int, int],
    placed: Placed,
    skipped: list[tuple[np.ndarray, SkipReason]],
    held: int,
) -> int:
    """Place each copy of an unkeyed `queue` or `skip` task (`simulation.chains.place_alone`)
    into `placed` and its skipped fire times into `skipped`; returns the tasks held so far.
    Copies of a type that cannot fail hold for the type's mean and run alike, drawing nothing;
    otherwise each copy's runs have their own attempts, drawn here and kept for the run."""
    task = workload.tasks[index]
    model = workload.attempts_of(index)
    alike = model is None or not model.can_fail
    runs: list[ChainedRun] = []
    attempts: list[Attempts | None] = []
    for _ in range(1 if alike else task.count):
        copy = place_alone(task, offsets, lambda: draw_run(workload, index, rng), window_us, backoff_ms)
        runs += copy
        attempts += [None if alike else run.attempts for run in copy if run.skipped is None]
    copies = task.count if alike else 1
    ran = [run for run in runs if run.skipped is None]
    held = check_size(held, len(ran) * copies, index, task.name)
    skipped += [
        (np.full(copies, run.due_us, dtype=np.int64), run.skipped) for run in runs if run.skipped is not None
    ]
    order = np.argsort(np.array([run.start_us for run in ran], dtype=np.int64), kind="stable")
    placed.dues[index] = np.repeat(np.array([run.start_us for run in ran], dtype=np.int64)[order], copies)
    placed.fires[index] = np.repeat(np.array([run.due_us for run in ran], dtype=np.int64)[order], copies)
    if not alike:
        placed.attempts[index] = [attempts[k] for k in order.tolist()]
    return held


def _skips(skipped: list[tuple[np.ndarray, SkipReason]]) -> Skips:
    if not skipped:
        return Skips.none()
    reasons = tuple(SkipReason)
    due = np.concatenate([times for times, _ in skipped])
    codes = np.concatenate(
        [np.full(len(times), reasons.index(reason), dtype=np.int8) for times, reason in skipped]
    )
    order = np.argsort(due, kind="stable")
    return Skips(due[order], codes[order])


def _drawn_positions(
    drawn: dict[int, list[Attempts | None]], sizes: list[int], order: np.ndarray
) -> dict[int, Attempts]:
    """The attempts drawn while placing chains, by position in the sorted arrivals."""
    if not any(attempts is not None for runs in drawn.values() for attempts in runs):
        return {}
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    return {
        int(rank[offsets[index] + k]): attempts
        for index, runs in drawn.items()
        for k, attempts in enumerate(runs)
        if attempts is not None
    }


def _draw_durations(
    workload: Workload,
    type_names: tuple[str, ...],
    type_ids: np.ndarray,
    task_ids: np.ndarray,
    known: dict[int, Attempts],
    rng: np.random.Generator,
) -> tuple[np.ndarray, Retries]:
    """Each task's first attempt's run time and its retries: drawn per type in due order, the
    attempts per attempt model in that type (the type's, or a task's with its own `timeout_s`
    or `max_attempts`), but for the tasks whose attempts are `known` (by position) already."""
    durations = np.zeros(len(type_ids), dtype=np.int64)
    extra: dict[int, tuple[int, ...]] = {}
    failed: list[int] = []
    unknown = np.ones(len(type_ids), dtype=bool)
    unknown[list(known)] = False
    models = [workload.attempts_of(index) for index in range(len(workload.tasks))]
    for index, name in enumerate(type_names):
        mask = (type_ids == index) & unknown
        durations[mask] = workload.types[name].sample_us(rng, int(mask.sum()))
        of_type = {models[task] for task, spec in enumerate(workload.tasks) if spec.task_type == name}
        if not any(model is not None and model.can_fail for model in of_type):
            continue  # nothing to draw: a workload without failures draws what it drew before
        positions = np.flatnonzero(mask)
        groups = [(of_type.pop(), positions)] if len(of_type) == 1 else _by_model(models, task_ids, positions)
        for attempts, group in groups:
            if attempts is None or not attempts.can_fail:
                continue
            first, later, failed_last = draw_attempts(rng, workload.types[name], attempts, durations[group])
            durations[group] = first
            for position, runs in zip(group.tolist(), later, strict=True):
                if runs:
                    extra[position] = tuple(runs)
            failed.extend(group[failed_last].tolist())
    for position, drawn in known.items():
        durations[position] = drawn.run_times_us[0]
        if len(drawn.run_times_us) > 1:
            extra[position] = drawn.run_times_us[1:]
        if not drawn.succeeded:
            failed.append(position)
    return durations, Retries(extra, frozenset(failed))


def _by_model(
    models: list[AttemptModel | None], task_ids: np.ndarray, positions: np.ndarray
) -> list[tuple[AttemptModel | None, np.ndarray]]:
    """`positions` grouped by their task's attempt model, in order of first appearance: one
    group, all of them, when the tasks of a type share its model (no overrides)."""
    distinct = list(dict.fromkeys(models))
    model_ids = np.array([distinct.index(model) for model in models], dtype=np.int32)
    of_position = model_ids[task_ids[positions]]
    present, first = np.unique(of_position, return_index=True)
    return [(distinct[int(model)], positions[of_position == model]) for model in present[np.argsort(first)]]
