"""The SimPy model of dispatch: distributor, broker with prefetch, processors, autoscaler.

This is the reference for every case, and the test oracle for `simulation.fast`.

- The distributor releases due tasks at each poll (`outcome.release_times`), in due order.
- The broker keeps a FIFO queue and hands messages round-robin to processors that hold fewer
  than `prefetch` unacknowledged tasks; a processor acknowledges a task when it finishes it.
- A processor runs the tasks it holds one at a time, in order: the dispatch overhead, then the
  task (its start time is taken after the overhead).
- The autoscaler applies the capacity plan as described in `simulation.fast`; an instance
  retires only when it holds nothing, so with `prefetch > 1` hoarded work delays retirement.

Plan changes are scheduled before anything else, so at equal times SimPy processes them
first (events of equal time and priority run in the order they were scheduled).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import numpy as np
import simpy

from simulation.capacity import CapacityPlan
from simulation.outcome import Outcome

_RETIRE = -1


class _Instance:
    __slots__ = ("held", "retired", "wake")

    def __init__(self) -> None:
        self.held: deque[int] = deque()
        self.wake: simpy.Event | None = None
        self.retired = False


class _Model:
    def __init__(
        self,
        env: simpy.Environment,
        durations: list[int],
        prefetch: int,
        overhead_us: int,
        lag_us: int,
    ) -> None:
        self.env = env
        self.durations = durations
        self.prefetch = prefetch
        self.overhead_us = overhead_us
        self.lag_us = lag_us
        self.starts = [0] * len(durations)
        self.queue: deque[int] = deque()
        self.ready: deque[_Instance] = deque()  # live processors with a free slot, in turn
        self.live: list[_Instance] = []
        self.owed = 0
        self.provisioned = 0
        self.log_requested: list[int] = []
        self.log_live: list[int] = []
        self.log_retired: list[int] = []

    @property
    def now(self) -> int:
        # Every delay is an integer number of microseconds, so the clock stays an int.
        return int(self.env.now)

    def start_instance(self, boot_us: int) -> None:
        self.provisioned += 1
        self.log_requested.append(self.now)
        self.log_live.append(self.now + boot_us)
        self.env.process(self._processor(_Instance(), boot_us))

    def _retire(self, instance: _Instance) -> None:
        instance.retired = True
        self.provisioned -= 1
        self.log_retired.append(self.now)

    def deliver(self) -> None:
        while self.queue and self.ready:
            instance = self.ready.popleft()
            if instance.retired or len(instance.held) >= self.prefetch:
                continue
            instance.held.append(self.queue.popleft())
            if len(instance.held) < self.prefetch:
                self.ready.append(instance)
            if instance.wake is not None and not instance.wake.triggered:
                instance.wake.succeed()

    def set_target(self, target: int) -> None:
        kept = self.provisioned - self.owed
        if target > kept:
            cancelled = min(self.owed, target - kept)
            self.owed -= cancelled
            for _ in range(target - kept - cancelled):
                self.start_instance(self.lag_us)
            return
        excess = kept - target
        for instance in self.live:
            if excess == 0:
                break
            if not instance.retired and not instance.held and instance.wake is not None:
                self._retire(instance)
                instance.wake.succeed(_RETIRE)
                excess -= 1
        self.live = [instance for instance in self.live if not instance.retired]
        self.owed += excess

    def _processor(self, instance: _Instance, boot_us: int) -> Generator[simpy.Event, Any, None]:
        env = self.env
        if boot_us:
            yield env.timeout(boot_us)
        if self.owed:
            self.owed -= 1
            self._retire(instance)
            return
        self.live.append(instance)
        self.ready.append(instance)
        self.deliver()
        while True:
            if not instance.held:
                instance.wake = env.event()
                signal = yield instance.wake
                instance.wake = None
                if signal == _RETIRE:
                    return
            task = instance.held[0]
            if self.overhead_us:
                yield env.timeout(self.overhead_us)
            self.starts[task] = self.now
            yield env.timeout(self.durations[task])
            instance.held.popleft()
            if not instance.held and self.owed:
                self.owed -= 1
                self._retire(instance)
                return
            if len(instance.held) == self.prefetch - 1:
                self.ready.append(instance)
            self.deliver()

    def distribute(
        self, releases: list[int], progress: Callable[[int], None] | None
    ) -> Generator[simpy.Event, Any, None]:
        env, index, total = self.env, 0, len(releases)
        while index < total:
            now = releases[index]
            if now > env.now:
                yield env.timeout(now - env.now)
            first = index
            while index < total and releases[index] == now:
                self.queue.append(index)
                index += 1
            self.deliver()
            if progress is not None:
                progress(index - first)


def _apply_target(model: _Model, target: int, _event: simpy.Event) -> None:
    model.set_target(target)


def simulate_simpy(
    release_us: np.ndarray,
    duration_us: np.ndarray,
    plan: CapacityPlan,
    lag_us: int = 0,
    overhead_us: int = 0,
    prefetch: int = 1,
    end_us: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Simulate with SimPy; same contract as `simulation.fast.simulate_fast` plus `prefetch`.

    Example: two instances, prefetch 2, tasks of 10, 1, 1, 1 s due at 0: the broker hands
    tasks 0 and 2 to one processor and 1 and 3 to the other, so task 2 starts at 10 s, not 2 s.
    """
    env = simpy.Environment()
    model = _Model(env, duration_us.tolist(), prefetch, overhead_us, lag_us)
    for time_us, target in zip(plan.times_us[1:].tolist(), plan.targets[1:].tolist(), strict=True):
        env.timeout(time_us).callbacks.append(partial(_apply_target, model, target))
    for _ in range(int(plan.targets[0])):
        model.start_instance(0)
    env.process(model.distribute(release_us.tolist(), progress))
    env.run()
    start_us = np.array(model.starts, dtype=np.int64)
    last_finish = int((start_us + duration_us).max()) if len(start_us) else 0
    until = max(end_us, last_finish)
    requested = np.array(model.log_requested, dtype=np.int64)
    live = np.array(model.log_live, dtype=np.int64)
    retired = np.array(model.log_retired, dtype=np.int64)
    keep = requested < until
    return Outcome(start_us, requested[keep], live[keep], retired[retired < until])
