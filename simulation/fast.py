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

Example: two instances, five tasks of 10 s due at 0, no overhead: starts 0, 0, 10, 10, 20 s.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np

from simulation.capacity import CapacityPlan
from simulation.outcome import Outcome

_INFINITY = 1 << 62
_CHUNK = 1 << 17


class _Fleet:
    """The instance heap and the rarely taken, event-ordered path around it."""

    def __init__(self, plan: CapacityPlan, lag_us: int) -> None:
        self.times = plan.times_us.tolist()
        self.targets = plan.targets.tolist()
        first = self.targets[0]
        self.heap = [0] * first
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
    lag_us: int = 0,
    overhead_us: int = 0,
    end_us: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Start times of tasks released at `release_us` (ascending) with `duration_us` each.

    The fleet history is played until `max(end_us, last finish)`.
    """
    fleet = _Fleet(plan, lag_us)
    heap = fleet.heap
    starts: list[int] = []
    append = starts.append
    replace = heapq.heapreplace
    for offset in range(0, len(release_us), _CHUNK):
        releases = release_us[offset : offset + _CHUNK].tolist()
        durations = duration_us[offset : offset + _CHUNK].tolist()
        for release, duration in zip(releases, durations, strict=True):
            free = heap[0]
            start = release if release > free else free
            if fleet.owed or start >= fleet.next_plan:
                start = fleet.pick_time(release)
            start += overhead_us
            replace(heap, start + duration)
            append(start)
        if progress is not None:
            progress(len(releases))
    start_us = np.array(starts, dtype=np.int64)
    last_finish = int((start_us + duration_us).max()) if len(starts) else 0
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
    )
