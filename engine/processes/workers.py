"""The processor's workers: threads that run handlers, one task at a time each.

They know nothing of the database or the broker: each takes a started run, calls its
handler, and reports the result (output or failure, elapsed time) to the coordinator.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.adapters.run_store import StartedRun
from engine.core.execution import TaskFailed
from engine.ports import Delivery, Handler, Monotonic


@dataclass(slots=True)
class TaskResult:
    run: StartedRun
    delivery: Delivery
    elapsed_ms: int
    output: str | None = None
    failure: TaskFailed | None = None


class Workers:
    """`count` long-lived threads fed by a plain queue: an executor's future per task cost
    the coordinator a fifth of its time on short tasks."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        count: int,
        report: Callable[[TaskResult], None],
        monotonic: Monotonic = time.perf_counter,
    ) -> None:
        self._handlers = handlers
        self._report = report
        self._monotonic = monotonic
        # Started runs; None tells a worker to stop.
        self._work: queue.SimpleQueue[tuple[StartedRun, Delivery] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"headway-task-{n}", daemon=True) for n in range(count)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, run: StartedRun, delivery: Delivery) -> None:
        self._work.put((run, delivery))

    def stop(self) -> None:
        """Workers still in a handler finish it and exit; runs not yet taken up are dropped
        (the coordinator gave them back already). Daemon threads: a handler that outlives
        the process's exit does not hold it."""
        while True:
            try:
                self._work.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            self._work.put(None)

    def _loop(self) -> None:
        while (item := self._work.get()) is not None:
            self._report(self.execute(*item))

    def execute(self, run: StartedRun, delivery: Delivery) -> TaskResult:
        """Run the handler of `run` and say how it went; never raises."""
        begin = self._monotonic()
        result = TaskResult(run, delivery, 0)
        try:
            handler = self._handlers.get(run.handler)
            if handler is None:
                raise TaskFailed(f"no handler named {run.handler!r}", outcome="no_handler", retryable=False)
            result.output = handler(run.context)
        except TaskFailed as failure:
            result.failure = failure
        except Exception as error:  # a handler's bug is the task's failure, not the processor's
            result.failure = TaskFailed(f"{error.__class__.__name__}: {error}")
        result.elapsed_ms = int((self._monotonic() - begin) * 1000)
        return result
