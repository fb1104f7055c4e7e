"""The Processor: consumes task messages, runs handlers in worker threads, records outcomes.

Per message: decode (a malformed one goes straight to the dead-letter queue with its
reason), set the row `Running` with the start time and a lease, run the handler in a worker
thread (the broker connection keeps its heartbeat meanwhile), record `Succeeded`, `Failed`
or `Dead` plus one `task_runs` row, and only then settle the message: ack, retry through the
broker's delay path, or dead-letter. Starts and finishes are written in batches: one
transaction starts every message that arrived since the last one, a second records every
task that finished, so a busy processor does not pay one commit per task.

At-least-once: a crash after the handler ran and before the outcome was recorded runs the
attempt again (the broker redelivers the unacknowledged message and, once this processor's
lease lapses, another processor takes the `Running` row over). Handlers receive the schedule
row id as the idempotency key to drop such repeats.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine

from engine.adapters.run_store import (
    FinishedRun,
    Heartbeat,
    StartedRun,
    finish_runs,
    record_heartbeat,
    remove_heartbeat,
    renew_leases,
    requeue_runs,
    start_runs,
)
from engine.core.execution import TaskFailed, excerpt
from engine.core.leases import StartAction, StartDecision, lease_until
from engine.core.messages import MalformedMessage, TaskMessage, decode_message, encode_message
from engine.core.retry import FailureAction, decide_after_failure
from engine.core.types import ScheduleStatus
from engine.ports import Broker, BrokerUnavailable, Clock, Delivery, Handler, Progress

log = logging.getLogger("headway.processor")

T = TypeVar("T")
MAX_BACKOFF_S = 5.0
# A processor whose heartbeat is this old is gone (killed without removing its row).
FORGET_AFTER_S = 60.0
# While messages keep arriving, finished tasks are recorded (and acknowledged) at least this
# often; otherwise at once.
RECORD_WITHIN_S = 1.0
# ... and are recorded as soon as no message has arrived for this long.
QUIET_BEFORE_RECORD_S = 0.05


@dataclass(frozen=True, slots=True)
class ProcessorConfig:
    processor_id: str
    concurrency: int = 4
    prefetch: int = 1  # unsettled messages per worker slot
    lease_s: float = 30.0
    heartbeat_s: float = 5.0
    backoff_base_ms: int = 1_000
    backoff_max_ms: int = 300_000
    shutdown_grace_s: float | None = None  # None: the longest running task's timeout

    @property
    def unsettled_limit(self) -> int:
        """Unsettled messages the broker lets this processor hold (its prefetch count)."""
        return self.concurrency * self.prefetch


def new_processor_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass(slots=True)
class _Result:
    run: StartedRun
    delivery: Delivery
    elapsed_ms: int
    output: str | None = None
    failure: TaskFailed | None = None


class Processor:
    def __init__(
        self,
        engine: Engine,
        broker: Broker,
        handlers: Mapping[str, Handler],
        config: ProcessorConfig,
        clock: Clock = lambda: datetime.now(UTC),
        progress: Progress | None = None,
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._handlers = handlers
        self._config = config
        self._clock = clock
        # Told after each heartbeat whether it reached the database (the health endpoint).
        self._progress = progress or (lambda ok: None)
        # Deliveries and results for the coordinator, from the consumer and the workers.
        self._events: queue.SimpleQueue[Delivery | _Result] = queue.SimpleQueue()
        self._running: dict[int, tuple[StartedRun, Delivery]] = {}  # by id() of the delivery
        # Started runs for the worker threads; None tells a worker to stop. A plain queue and
        # long-lived threads: an executor's future per task cost the coordinator a fifth of
        # its time on short tasks.
        self._work: queue.SimpleQueue[tuple[StartedRun, Delivery] | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._deadline: float | None = None  # monotonic instant when stopping gives up waiting

    # -- lifecycle -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then let running tasks finish (bounded by their timeout
        or `shutdown_grace_s`), give back what is left, and return."""
        self._stop = stop
        started_at = self._clock()
        heartbeat_stop = threading.Event()
        heartbeat = threading.Thread(
            target=self._heartbeat_loop,
            args=(started_at, heartbeat_stop),
            name="headway-heartbeat",
            daemon=True,
        )
        coordinator = threading.Thread(target=self._coordinate, name="headway-coordinator", daemon=True)
        workers = [
            threading.Thread(target=self._work_loop, name=f"headway-task-{n}", daemon=True)
            for n in range(self._config.concurrency)
        ]
        for worker in workers:
            worker.start()
        heartbeat.start()
        coordinator.start()
        try:
            self._consume_until(stop)
        finally:
            stop.set()
            coordinator.join()
            heartbeat_stop.set()
            heartbeat.join()
            self._stop_workers(len(workers))
            self._retry_db(lambda c: remove_heartbeat(c, self._config.processor_id), attempts=3)

    def _consume_until(self, stop: threading.Event) -> None:
        delay_s = 0.2
        while not stop.is_set():
            try:
                self._broker.consume(self._events.put, self._config.unsettled_limit, stop)
                delay_s = 0.2
            except BrokerUnavailable as error:
                log.warning("broker unavailable (%s); reconnecting in %.1f s", error, delay_s)
                stop.wait(delay_s)
                delay_s = min(delay_s * 2, MAX_BACKOFF_S)

    # -- the coordinator thread: batches starts and finishes --------------------------------

    def _coordinate(self) -> None:
        finished: list[_Result] = []  # results not yet recorded
        first_finished_at = last_delivery_at = 0.0
        while True:
            deliveries, results = self._drain(timeout_s=0.05)
            now = time.monotonic()
            if deliveries and self._stop.is_set():
                for delivery in deliveries:  # arrived as consuming stopped: not started
                    delivery.requeue()
                deliveries = []
            if deliveries:
                last_delivery_at = now
            if results and not finished:
                first_finished_at = now
            finished.extend(results)
            # Starting comes first: while messages keep arriving, outcomes wait and are then
            # recorded in one larger batch, so that a burst starts on time instead of
            # alternating with the bookkeeping of its first tasks. They wait no longer than
            # RECORD_WITHIN_S, and not at all once every unsettled message the broker allows
            # is held here (no more can arrive before some are acknowledged).
            record = bool(finished) and (
                self._stop.is_set()
                or now - first_finished_at >= RECORD_WITHIN_S
                or len(self._running) >= self._config.unsettled_limit
                or (not deliveries and now - last_delivery_at >= QUIET_BEFORE_RECORD_S)
            )
            to_record, finished = (finished, []) if record else ([], finished)
            if deliveries or to_record:
                self._step(deliveries, to_record)
            if self._stop.is_set():
                if not self._running and self._events.empty():
                    return
                if self._stop_deadline_passed():
                    self._give_back_running()
                    return

    def _stop_deadline_passed(self) -> bool:
        """Once stopping, running tasks get their timeout (or `shutdown_grace_s`) to finish."""
        if not self._stop.is_set():
            return False
        if self._deadline is None:
            grace_s = self._grace_s()
            log.info("stopping: waiting up to %.1f s for %d running tasks", grace_s, len(self._running))
            self._deadline = time.monotonic() + grace_s
        return time.monotonic() >= self._deadline

    def _drain(self, timeout_s: float) -> tuple[list[Delivery], list[_Result]]:
        deliveries: list[Delivery] = []
        results: list[_Result] = []
        try:
            item = self._events.get(timeout=timeout_s)
        except queue.Empty:
            return deliveries, results
        while True:
            (results if isinstance(item, _Result) else deliveries).append(item)  # type: ignore[arg-type]
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                return deliveries, results

    def _grace_s(self) -> float:
        if self._config.shutdown_grace_s is not None:
            return self._config.shutdown_grace_s
        return max((run.context.timeout_s for run, _ in self._running.values()), default=0.0) + 1.0

    def _give_back_running(self) -> None:
        runs = [run for run, _ in self._running.values()]
        self._retry_db(lambda c: requeue_runs(c, runs, self._config.processor_id), attempts=3)
        for _, delivery in self._running.values():
            delivery.requeue()
        log.warning("gave back %d unfinished tasks", len(runs))
        self._running.clear()

    def _step(self, deliveries: list[Delivery], results: list[_Result]) -> None:
        """Start what arrived, in one transaction (one commit for the whole batch), and hand
        the started runs to the worker threads; then record what finished, in a second one,
        and settle those messages. Starts go first: a task's start lag should not include
        the bookkeeping of the tasks before it."""
        messages: list[tuple[TaskMessage, Delivery]] = []
        for delivery in deliveries:
            try:
                messages.append((decode_message(delivery.body), delivery))
            except MalformedMessage as error:
                log.error("malformed message dead-lettered: %s", error.reason)
                delivery.dead_letter(delivery.body, f"malformed: {error.reason}")
        now = self._clock()
        records = [
            (result, *self._record(result, now))
            for result in results
            if self._running.pop(id(result.delivery), None) is not None  # else given back at stop
        ]
        me = self._config.processor_id
        began = time.perf_counter()
        if messages:
            lease = lease_until(now, self._config.lease_s)
            starts = self._retry_db(lambda c: start_runs(c, [m for m, _ in messages], me, now, lease))
            if starts is None:  # stopping with the database away: give them back
                for _, delivery in messages:
                    delivery.requeue()
            else:
                self._dispatch(messages, *starts)
        started_at = time.perf_counter()
        if records:
            changed = self._retry_db(lambda c: finish_runs(c, [r for _, r, _, _ in records], me))
            if changed is None:
                # Finished rows stay Running under a lease that lapses, and their requeued
                # messages take them over then.
                for result, _, _, _ in records:
                    result.delivery.requeue()
            else:
                self._settle(records, changed)
        if messages or records:
            log.debug(
                "step: %d arrived, %.1f ms to start; %d finished, %.1f ms to record",
                len(messages),
                (started_at - began) * 1000,
                len(records),
                (time.perf_counter() - started_at) * 1000,
            )

    def _dispatch(
        self,
        messages: list[tuple[TaskMessage, Delivery]],
        started: list[StartedRun],
        others: list[tuple[TaskMessage, StartDecision]],
    ) -> None:
        by_schedule: dict[int, list[Delivery]] = {}
        for message, delivery in messages:
            by_schedule.setdefault(message.schedule_id, []).append(delivery)
        for run in started:
            delivery = by_schedule[run.message.schedule_id].pop(0)
            self._running[id(delivery)] = (run, delivery)
            self._work.put((run, delivery))
        for message, decision in others:
            delivery = by_schedule[message.schedule_id].pop(0)
            if decision.action is StartAction.DEFER:
                delivery.retry(delivery.body, decision.delay_ms)
            elif decision.action is StartAction.RETRY_AGAIN:
                delivery.retry(encode_message(message.next_attempt()), decision.delay_ms)
            elif decision.action is StartAction.DEAD_AGAIN:
                delivery.dead_letter(delivery.body, f"attempt {message.attempt} failed (resent)")
            else:
                log.info("dropped message for row %d: %s", message.schedule_id, decision.reason)
                delivery.ack()

    def _work_loop(self) -> None:
        while (item := self._work.get()) is not None:
            self._execute(*item)

    def _stop_workers(self, count: int) -> None:
        """Workers still in a handler finish it and exit; runs not yet taken up were given
        back by the coordinator already and are dropped here."""
        while True:
            try:
                self._work.get_nowait()
            except queue.Empty:
                break
        for _ in range(count):
            self._work.put(None)

    def _execute(self, run: StartedRun, delivery: Delivery) -> None:
        """In a worker thread: run the handler and hand the result to the coordinator."""
        begin = time.perf_counter()
        result = _Result(run, delivery, 0)
        try:
            handler = self._handlers.get(run.handler)
            if handler is None:
                raise TaskFailed(f"no handler named {run.handler!r}", outcome="no_handler", retryable=False)
            result.output = handler(run.context)
        except TaskFailed as failure:
            result.failure = failure
        except Exception as error:  # a handler's bug is the task's failure, not the processor's
            result.failure = TaskFailed(f"{error.__class__.__name__}: {error}")
        result.elapsed_ms = int((time.perf_counter() - begin) * 1000)
        self._events.put(result)

    def _settle(
        self, records: list[tuple[_Result, FinishedRun, FailureAction | None, int]], changed: set[int]
    ) -> None:
        """After the outcomes are committed: ack, send the next attempt to the delay queue, or
        dead-letter."""
        for result, record, action, delay_ms in records:
            if record.run.message.schedule_id not in changed:
                log.warning("row %d was taken over while running here", record.run.message.schedule_id)
            if action is FailureAction.RETRY:
                result.delivery.retry(encode_message(record.run.message.next_attempt()), delay_ms)
            elif action is FailureAction.DEAD:
                result.delivery.dead_letter(result.delivery.body, record.error or "failed")
            else:
                result.delivery.ack()

    def _record(self, result: _Result, now: datetime) -> tuple[FinishedRun, FailureAction | None, int]:
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
        # A task type may set its own backoff in its config; the processor's is the default.
        decision = decide_after_failure(
            run.message.attempt,
            run.context.max_attempts,
            failure.retryable,
            int(run.context.config.get("retry_base_ms", self._config.backoff_base_ms)),
            int(run.context.config.get("retry_max_ms", self._config.backoff_max_ms)),
        )
        status = ScheduleStatus.DEAD if decision.action is FailureAction.DEAD else ScheduleStatus.FAILED
        next_attempt_at = (
            now + timedelta(milliseconds=decision.delay_ms)
            if decision.action is FailureAction.RETRY
            else None
        )
        # last_error starts with the outcome code ("blocked_destination: ...") for readers
        # that only look at the row.
        reason = failure.reason
        error = excerpt(reason if reason.startswith(failure.outcome) else f"{failure.outcome}: {reason}")
        record = FinishedRun(
            status=status, outcome=failure.outcome, error=error, next_attempt_at=next_attempt_at, **common
        )
        return record, decision.action, decision.delay_ms

    # -- database access with retries ---------------------------------------------------------

    def _retry_db(self, work: Callable[[Any], T], attempts: int | None = None) -> T | None:
        """Run `work(connection)` in a transaction, retrying with backoff while the database is
        unreachable. Gives up (None) after `attempts`, or once stopping has passed its grace."""
        delay_s = 0.1
        tried = 0
        while True:
            try:
                with self._engine.begin() as connection:
                    return work(connection)
            except Exception as error:
                tried += 1
                if attempts is not None and tried >= attempts:
                    log.error("database write abandoned after %d tries: %s", tried, error)
                    return None
                if self._stop_deadline_passed():
                    return None
                log.warning("database write failed (%s); retrying in %.1f s", _first_line(error), delay_s)
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, MAX_BACKOFF_S)

    def _heartbeat_loop(self, started_at: datetime, stop: threading.Event) -> None:
        heartbeat = Heartbeat(
            self._config.processor_id, socket.gethostname(), os.getpid(), self._config.concurrency, started_at
        )
        forget_after = timedelta(seconds=max(FORGET_AFTER_S, 10 * self._config.heartbeat_s))
        while True:
            now = self._clock()
            # A copy taken at once: the coordinator changes the dict meanwhile.
            running = [run.message.schedule_id for run, _ in list(self._running.values())]
            try:
                with self._engine.begin() as connection:
                    record_heartbeat(connection, heartbeat, now, now - forget_after)
                    renew_leases(
                        connection, self._config.processor_id, running, lease_until(now, self._config.lease_s)
                    )
                self._progress(True)
            except Exception as error:
                self._progress(False)
                log.warning("heartbeat failed: %s", error.__class__.__name__)
            if stop.wait(self._config.heartbeat_s):
                return


def _first_line(error: Exception) -> str:
    return f"{error.__class__.__name__}: {str(error).splitlines()[0] if str(error) else ''}"
