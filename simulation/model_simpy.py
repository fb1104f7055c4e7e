"""The SimPy model of dispatch: distributor, broker with prefetch, processors, autoscaler.

This is the reference for every case, and the test oracle for `simulation.fast`.

- The distributor releases tasks at their release times (`outcome.release_times`: when due,
  or at the next poll for immediate tasks), in that order.
- The broker keeps a FIFO queue and hands messages round-robin to processors that hold fewer
  than `concurrency x prefetch` unacknowledged tasks; a processor acknowledges a task when it
  finishes it.
- A processor has `concurrency` worker slots; each takes the next task the processor holds,
  in delivery order: the dispatch overhead, then the task (its start time is taken after the
  overhead).
- A failed attempt (`simulation.attempts`) is sent to the back of the queue again after the
  backoff; the start recorded for a task is its first attempt's.
- The autoscaler applies the capacity plan as described in `simulation.fast`. A processor
  over the target drains: once a retirement is owed, the next processor to finish a task takes
  no more deliveries and retires when it holds nothing (with one slot and prefetch 1, at once).

Plan changes are scheduled before anything else, so at equal times SimPy processes them
first (events of equal time and priority run in the order they were scheduled).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Mapping
from functools import partial
from typing import Any

import numpy as np
import simpy

from simulation.attempts import backoff_us
from simulation.capacity import CapacityPlan
from simulation.outcome import Dispatch, Outcome

_RETIRE = -1


class _Instance:
    __slots__ = ("draining", "held", "retired", "waiting", "wakes")

    def __init__(self) -> None:
        self.held = 0  # delivered and not finished
        self.waiting: deque[tuple[int, int]] = deque()  # delivered, no slot yet: (task, attempt)
        self.wakes: list[simpy.Event] = []  # idle slots
        self.retired = False
        self.draining = False


class _Model:
    def __init__(
        self,
        env: simpy.Environment,
        durations: list[int],
        dispatch: Dispatch,
        extra_us: Mapping[int, tuple[int, ...]],
    ) -> None:
        self.env = env
        self.durations = durations
        self.limit = dispatch.unsettled_limit
        self.slots = dispatch.concurrency
        self.overhead_us = dispatch.overhead_us
        self.lag_us = dispatch.scale_up_lag_us
        self.dispatch = dispatch
        self.extra_us = extra_us
        self.starts = [0] * len(durations)
        self.last_finish = 0
        self.queue: deque[tuple[int, int]] = deque()
        self.ready: deque[_Instance] = deque()  # live processors with a free slot, in turn
        self.live: list[_Instance] = []
        self.owed = 0
        self.draining = 0
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
        self.env.process(self._boot(_Instance(), boot_us))

    def _retire(self, instance: _Instance) -> None:
        instance.retired = True
        self.provisioned -= 1
        self.log_retired.append(self.now)
        for wake in instance.wakes:
            wake.succeed(_RETIRE)
        instance.wakes = []

    def deliver(self) -> None:
        while self.queue and self.ready:
            instance = self.ready.popleft()
            if instance.retired or instance.draining or instance.held >= self.limit:
                continue
            instance.held += 1
            instance.waiting.append(self.queue.popleft())
            if instance.held < self.limit:
                self.ready.append(instance)
            if instance.wakes:
                instance.wakes.pop(0).succeed()

    def set_target(self, target: int) -> None:
        kept = self.provisioned - self.owed - self.draining
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
            if not instance.retired and not instance.draining and not instance.held:
                self._retire(instance)
                excess -= 1
        self.live = [instance for instance in self.live if not instance.retired]
        self.owed += excess

    def _boot(self, instance: _Instance, boot_us: int) -> Generator[simpy.Event, Any, None]:
        if boot_us:
            yield self.env.timeout(boot_us)
        if self.owed:
            self.owed -= 1
            self._retire(instance)
            return
        self.live.append(instance)
        self.ready.append(instance)
        for _ in range(self.slots):
            self.env.process(self._slot(instance))
        self.deliver()

    def _slot(self, instance: _Instance) -> Generator[simpy.Event, Any, None]:
        env = self.env
        while True:
            if not instance.waiting:
                if instance.retired:
                    return
                wake = env.event()
                instance.wakes.append(wake)
                if (yield wake) == _RETIRE:
                    return
                continue
            task, attempt = instance.waiting.popleft()
            if self.overhead_us:
                yield env.timeout(self.overhead_us)
            if attempt == 1:
                self.starts[task] = self.now
                run_us = self.durations[task]
            else:
                run_us = self.extra_us[task][attempt - 2]
            yield env.timeout(run_us)
            self.last_finish = max(self.last_finish, self.now)
            if attempt - 1 < len(self.extra_us.get(task, ())):
                delay = backoff_us(attempt, self.dispatch.retry_base_ms, self.dispatch.retry_max_ms)
                env.timeout(delay).callbacks.append(partial(_requeue, self, task, attempt + 1))
            self._finished(instance)

    def _finished(self, instance: _Instance) -> None:
        instance.held -= 1
        if self.owed and not instance.draining:
            self.owed -= 1
            self.draining += 1
            instance.draining = True
        if instance.draining:
            if not instance.held:
                self.draining -= 1
                self._retire(instance)
            return
        if instance.held == self.limit - 1:
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
                self.queue.append((index, 1))
                index += 1
            self.deliver()
            if progress is not None:
                progress(index - first)


def _requeue(model: _Model, task: int, attempt: int, _event: simpy.Event) -> None:
    model.queue.append((task, attempt))
    model.deliver()


def _apply_target(model: _Model, target: int, _event: simpy.Event) -> None:
    model.set_target(target)


def simulate_simpy(
    release_us: np.ndarray,
    duration_us: np.ndarray,
    plan: CapacityPlan,
    dispatch: Dispatch,
    end_us: int = 0,
    progress: Callable[[int], None] | None = None,
    extra_us: Mapping[int, tuple[int, ...]] | None = None,
) -> Outcome:
    """Simulate with SimPy; same contract as `simulation.fast.simulate_fast`, for any prefetch
    and concurrency. `extra_us[task]` are the run times of a task's later attempts.

    Example: two single-slot instances, prefetch 2, tasks of 10, 1, 1, 1 s due at 0: the broker
    hands tasks 0 and 2 to one processor and 1 and 3 to the other, so task 2 starts at 10 s,
    not 2 s.
    """
    env = simpy.Environment()
    model = _Model(env, duration_us.tolist(), dispatch, extra_us or {})
    for time_us, target in zip(plan.times_us[1:].tolist(), plan.targets[1:].tolist(), strict=True):
        env.timeout(time_us).callbacks.append(partial(_apply_target, model, target))
    for _ in range(int(plan.targets[0])):
        model.start_instance(0)
    env.process(model.distribute(release_us.tolist(), progress))
    env.run()
    start_us = np.array(model.starts, dtype=np.int64)
    until = max(end_us, model.last_finish)
    requested = np.array(model.log_requested, dtype=np.int64)
    live = np.array(model.log_live, dtype=np.int64)
    retired = np.array(model.log_retired, dtype=np.int64)
    keep = requested < until
    return Outcome(start_us, requested[keep], live[keep], retired[retired < until], model.last_finish)
