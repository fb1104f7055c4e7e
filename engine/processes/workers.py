"""The processor's workers: threads that run handlers, one task at a time each, and what a
result is recorded as.

They know nothing of the database or the broker: each takes a started run, calls its
handler, and reports the result (output or failure, elapsed time) to the coordinator.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.core.execution import TaskFailed, excerpt
from engine.core.retry import FailureAction, decide_after_failure
from engine.core.runs import FinishedRun, StartedRun
from engine.core.types import ScheduleStatus
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

    def take_unstarted(self) -> list[tuple[StartedRun, Delivery]]:
        """Remove and return the runs no worker has taken up yet: they will never run here."""
        taken: list[tuple[StartedRun, Delivery]] = []
        while True:
            try:
                item = self._work.get_nowait()
            except queue.Empty:
                return taken
            if item is not None:
                taken.append(item)

    def stop(self) -> None:
        """Workers still in a handler finish it and exit; runs not yet taken up are dropped
        (the coordinator gave them back already). Daemon threads: a handler that outlives
        the process's exit does not hold it."""
        self.take_unstarted()
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


def record_outcome(
    result: TaskResult, now: datetime, backoff_base_ms: int, backoff_max_ms: int
) -> tuple[FinishedRun, FailureAction | None, int]:
    """What `result` is recorded as at `now`, and what follows for its message: a success is
    `Succeeded` (then ack); a failure is retried (`Failed` with `next_attempt_at`, the next
    attempt to the delay queue), `Dead` after the last attempt, or `Failed` for good
    (`engine.core.retry.decide_after_failure`). The type's config may set its own backoff
    (`retry_base_ms`, `retry_max_ms`); the processor's is the default."""
    run = result.run
    common: dict[str, Any] = {"run": run, "finished_at": now, "elapsed_ms": result.elapsed_ms}
    if result.failure is None:
        return (
            FinishedRun(
                status=ScheduleStatus.SUCCEEDED,
                outcome="succeeded",
                output_excerpt=excerpt(result.output),
                **common,
            ),
            None,
            0,
        )
    failure = result.failure
    decision = decide_after_failure(
        run.message.attempt,
        run.context.max_attempts,
        failure.retryable,
        int(run.context.config.get("retry_base_ms", backoff_base_ms)),
        int(run.context.config.get("retry_max_ms", backoff_max_ms)),
    )
    status = ScheduleStatus.DEAD if decision.action is FailureAction.DEAD else ScheduleStatus.FAILED
    next_attempt_at = (
        now + timedelta(milliseconds=decision.delay_ms) if decision.action is FailureAction.RETRY else None
    )
    # last_error starts with the outcome code ("blocked_destination: ...") for readers
    # that only look at the row.
    reason = failure.reason
    error = excerpt(reason if reason.startswith(failure.outcome) else f"{failure.outcome}: {reason}")
    record = FinishedRun(
        status=status, outcome=failure.outcome, error=error, next_attempt_at=next_attempt_at, **common
    )
    return record, decision.action, decision.delay_ms
