"""The exact fast path: FIFO list scheduling on a heap of instance free times.

Applies when each processor holds one task at a time (`prefetch == 1`): tasks then start in
release order, each on the instance that frees first, at `max(release, free) + overhead`
(the Kiefer-Wolfowitz recursion for a FIFO multi-server queue). The SimPy model in
`simulation.model_simpy` is the oracle; both give identical start times, to the microsecond.

Capacity changes follow the plan. At a change to target T with K instances kept:
- T > K: cancel pending retirements first, then request new instances, serving after the lag.
- T < K: idle instances retire at once; the rest of the excess is owed, and each instance
  that finishes a task while retirements are owed retires instead of taking the next one.
At equal times a plan change comes first, then retirements, then starts; the SimPy model
schedules its events in the same order.

With `concurrency` c > 1 a processor is c slots; the fast path then takes fixed fleets only
(tasks start on the slot that frees first, whichever processor it is on, which is exact with
prefetch 1), since a processor drains as a whole when the fleet shrinks.

Retries (`simulation.attempts`): a failed attempt's next attempt is released `backoff` after it
ends, and joins the release order; at equal times the distributor's releases go first.
The SimPy model agrees except when a retry is released at the very microsecond of another
release (it may then order them the other way).

Example: two instances, five tasks of 10 s due at 0, no overhead: starts 0, 0, 10, 10, 20 s.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

import numpy as np

from simulation.attempts import backoff_us
from simulation.capacity import CapacityPlan
from simulation.outcome import Dispatch, Outcome

_INFINITY = 1 << 62
_CHUNK = 1 << 17


class _Fleet:
    """The instance heap and the rarely taken, event-ordered path around it."""

    def __init__(self, plan: CapacityPlan, lag_us: int, concurrency: int = 1) -> None:
        if concurrency > 1 and len(plan.times_us) > 1:
            raise ValueError("the fast path takes concurrency > 1 with a fixed fleet only")
        self.times = plan.times_us.tolist()
        self.targets = plan.targets.tolist()
        first = self.targets[0]
        self.heap = [0] * (first * concurrency)
        self.requested = [0] * first
        self.live = [0] * first
        self.retired: list[int] = []
        self.owed = 0
        self.lag_us = lag_us
        self.index = 1
        self.next_plan = self.times[1] if len(self.times) > 1 else _INFINITY

    def _apply_plan(self) -> None:
        now, target = self.next_plan, self.targets[self.index]
        self.index += 1
        self.next_plan = self.times[self.index] if self.index < len(self.times) else _INFINITY
        kept = len(self.heap) - self.owed
        heap = self.heap
        if target > kept:
            cancelled = min(self.owed, target - kept)
            self.owed -= cancelled
            for _ in range(target - kept - cancelled):
                heapq.heappush(heap, now + self.lag_us)
                self.requested.append(now)
                self.live.append(now + self.lag_us)
        elif target < kept:
            excess = kept - target
            while excess and heap[0] <= now:
                heapq.heappop(heap)
                self.retired.append(now)
                excess -= 1
            self.owed += excess

    def pick_time(self, release: int) -> int:
        """Process every event before the start of a task released at `release`; its start."""
        while True:
            free = self.heap[0]
            if self.owed:
                if self.next_plan <= free:
                    self._apply_plan()
                else:
                    heapq.heappop(self.heap)
                    self.retired.append(free)
                    self.owed -= 1
                continue
            start = release if release > free else free
            if self.next_plan <= start:
                self._apply_plan()
                continue
            return start

    def settle(self, end_us: int) -> None:
        """Play the plan and owed retirements on to `end_us`, for the instance accounting."""
        while True:
            if self.owed and self.heap[0] < self.next_plan:
                if self.heap[0] >= end_us:
                    return
                self.retired.append(heapq.heappop(self.heap))
                self.owed -= 1
            elif self.next_plan < end_us:
                self._apply_plan()
            else:
                return


def simulate_fast(
    release_us: np.ndarray,
    duration_us: np.ndarray,
    plan: CapacityPlan,
    dispatch: Dispatch,
    end_us: int = 0,
    progress: Callable[[int], None] | None = None,
    extra_us: Mapping[int, tuple[int, ...]] | None = None,
) -> Outcome:
    """Start times of tasks released at `release_us` (ascending) with `duration_us` each
    (first attempts; `extra_us[task]` are the run times of its later attempts).

    The fleet history is played until `max(end_us, last finish)`. Needs prefetch 1.
    """
    if dispatch.prefetch != 1:
        raise ValueError("the fast path is exact for prefetch 1 only")
    fleet = _Fleet(plan, dispatch.scale_up_lag_us, dispatch.concurrency)
    if extra_us:
        starts, last_finish = _with_retries(
            fleet, release_us, duration_us, dispatch, extra_us, progress
        )
    else:
        starts, last_finish = _first_attempts(fleet, release_us, duration_us, dispatch, progress)
    start_us = np.array(starts, dtype=np.int64)
    until = max(end_us, last_finish)
    fleet.settle(until)
    requested = np.array(fleet.requested, dtype=np.int64)
    keep = requested < until
    retired = np.array(fleet.retired, dtype=np.int64)
    return Outcome(
        start_us=start_us,
        requested_us=requested[keep],
        live_us=np.array(fleet.live, dtype=np.int64)[keep],
        retired_us=retired[retired < until],
        last_finish_us=last_finish,
    )


def _first_attempts(
    fleet: _Fleet,
    release_us: np.ndarray,
    duration_us: np.ndarray,
    dispatch: Dispatch,
    progress: Callable[[int], None] | None,
) -> tuple[list[int], int]:
    """The hot loop, for runs where every task runs once."""
    heap = fleet.heap
    overhead_us = dispatch.overhead_us
    starts: list[int] = []
    append = starts.append
    replace = heapq.heapreplace
    last_finish = 0
    for offset in range(0, len(release_us), _CHUNK):
        releases = release_us[offset : offset + _CHUNK].tolist()
        durations = duration_us[offset : offset + _CHUNK].tolist()
        for release, duration in zip(releases, durations, strict=True):
            free = heap[0]
            start = release if release > free else free
            if fleet.owed or start >= fleet.next_plan:
                start = fleet.pick_time(release)
            start += overhead_us
            finish = start + duration
            replace(heap, finish)
            if finish > last_finish:
                last_finish = finish
            append(start)
        if progress is not None:
            progress(len(releases))
    return starts, last_finish


def _with_retries(
    fleet: _Fleet,
    release_us: np.ndarray,
    duration_us: np.ndarray,
    dispatch: Dispatch,
    extra_us: Mapping[int, tuple[int, ...]],
    progress: Callable[[int], None] | None,
) -> tuple[list[int], int]:
    """Distributor releases merged with retries (a heap of (release, order, task, attempt))."""
    releases = release_us.tolist()
    durations = duration_us.tolist()
    starts = [0] * len(releases)
    retries: list[tuple[int, int, int, int]] = []
    index = order = last_finish = 0
    total = len(releases)
    while index < total or retries:
        if retries and (index == total or retries[0][0] < releases[index]):
            release, _, task, attempt = heapq.heappop(retries)
            run_us = extra_us[task][attempt - 2]
        else:
            release, task, attempt = releases[index], index, 1
            run_us = durations[index]
            index += 1
            if progress is not None and index % _CHUNK == 0:
                progress(_CHUNK)
        free = fleet.heap[0]
        start = release if release > free else free
        if fleet.owed or start >= fleet.next_plan:
            start = fleet.pick_time(release)
        start += dispatch.overhead_us
        finish = start + run_us
        heapq.heapreplace(fleet.heap, finish)
        last_finish = max(last_finish, finish)
        if attempt == 1:
            starts[task] = start
        if attempt - 1 < len(extra_us.get(task, ())):
            again = finish + backoff_us(attempt, dispatch.retry_base_ms, dispatch.retry_max_ms)
            heapq.heappush(retries, (again, order, task, attempt + 1))
            order += 1
    if progress is not None and total % _CHUNK:
        progress(total % _CHUNK)
    return starts, last_finish
