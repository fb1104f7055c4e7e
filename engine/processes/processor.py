"""The Processor: consumes task messages, runs handlers in worker threads, records outcomes.

Four parts with one job each: the consumer (`engine.processes.consumer`) takes messages from
the broker; the workers (`engine.processes.workers`) run handlers; the heartbeat
(`engine.processes.heartbeat`) renews leases; the coordinator, here, is the only one that
writes runs and settles messages.

Per message: decode (a malformed one goes straight to the dead-letter queue with its
reason), set the row `Running` with the start time and a lease, run the handler in a worker
thread, record `Succeeded`, `Failed` or `Dead` plus one `task_runs` row, and only then settle
the message: ack, retry through the broker's delay path, or dead-letter. Starts and finishes
are written in batches: one transaction starts every message that arrived since the last one,
a second records every task that finished, so a busy processor does not pay one commit per
task. A batch that fails for what it writes (not because the database is away) is written
again row by row, and the row that fails alone is dead-lettered with the error: one hostile
message never holds up the others.

Stopping (the `stop` event, SIGTERM): consuming stops, messages that arrive meanwhile go
back unstarted, so do tasks started here that no worker has taken up yet (prefetch > 1),
running tasks get the grace (`shutdown_grace_s`, by default the longest
running task's timeout plus a second) to finish, and finished tasks are recorded before
their messages are acknowledged, waiting for the database within the grace. What is still
held when the grace ends is given back, and `run` returns.

At-least-once: a crash after the handler ran and before the outcome was recorded runs the
attempt again (see the README's "At-least-once delivery"). Handlers receive the schedule row
id as the idempotency key to drop such repeats.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Engine

from engine.adapters.database import describe_database_error
from engine.adapters.sql_stores import SqlRunStore
from engine.core.execution import excerpt
from engine.core.leases import StartAction, StartDecision, lease_until
from engine.core.messages import MalformedMessage, TaskMessage, decode_message, encode_message
from engine.core.retry import FailureAction
from engine.core.runs import FinishedRun, StartedRun
from engine.core.types import ScheduleStatus
from engine.ports import Broker, Clock, Delivery, Handler, Monotonic, Progress, RunStore
from engine.processes.consumer import Consumer
from engine.processes.db_writes import Writes
from engine.processes.heartbeat import HeartbeatThread
from engine.processes.workers import TaskResult, Workers, record_outcome

log = logging.getLogger("headway.processor")

# While messages keep arriving, finished tasks are recorded (and acknowledged) at least this
# often; otherwise at once.
RECORD_WITHIN_S = 1.0
# ... and are recorded as soon as no message has arrived for this long.
QUIET_BEFORE_RECORD_S = 0.05
# Once the grace has ended and everything held was given back, how long the consumer gets to
# hand back what it still holds before `run` returns anyway (the broker requeues the rest when
# the connection closes).
CONSUMER_EXIT_S = 2.0

Record = tuple[TaskResult, FinishedRun, FailureAction | None, int]


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


class Processor:
    def __init__(
        self,
        engine: Engine | None,
        broker: Broker,
        handlers: Mapping[str, Handler],
        config: ProcessorConfig,
        clock: Clock = lambda: datetime.now(UTC),
        monotonic: Monotonic = time.monotonic,
        progress: Progress | None = None,
        *,
        store: RunStore | None = None,
    ) -> None:
        """`engine` is the database of the default `store`; with a store it may be None."""
        if store is None:
            if engine is None:
                raise ValueError("engine: a database engine is required unless a store is given")
            store = SqlRunStore(engine)
        self._store = store
        self._progress = progress
        self._broker = broker
        self._config = config
        self._clock = clock
        self._monotonic = monotonic
        self._writes = Writes(monotonic)
        # Deliveries from the consumer and results from the workers, for the coordinator.
        self._inbox: queue.SimpleQueue[Delivery | TaskResult] = queue.SimpleQueue()
        self._workers = Workers(handlers, config.concurrency, self._inbox.put)
        # Tasks started here and not yet recorded (running, or finished and waiting for the
        # database), by id() of their delivery: the heartbeat keeps their leases.
        self._held: dict[int, tuple[StartedRun, Delivery]] = {}
        self._stop = threading.Event()
        self._deadline: float | None = None  # monotonic instant when stopping gives up waiting

    # -- lifecycle -------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, then let held tasks finish and be recorded within the
        grace, give back what is left, and return."""
        self._stop = stop
        config = self._config
        heartbeat = HeartbeatThread(
            self._store,
            config.processor_id,
            config.concurrency,
            config.lease_s,
            config.heartbeat_s,
            self._clock,
            self._held_ids,
            self._progress,
        )
        consumer = Consumer(self._broker, self._inbox.put, config.unsettled_limit, stop)
        self._workers.start()
        heartbeat.start()
        consumer.start()
        try:
            self._coordinate(consumer)
        finally:
            stop.set()
            consumer.join(CONSUMER_EXIT_S)
            heartbeat.stop()
            self._workers.stop()
            self._writes.run(lambda: self._store.remove_heartbeat(config.processor_id), attempts=1)

    def _held_ids(self) -> list[int]:
        # A copy taken at once: the coordinator changes the dict meanwhile.
        return [run.message.schedule_id for run, _ in list(self._held.values())]

    # -- the coordinator: batches starts and finishes -----------------------------------------

    def _coordinate(self, consumer: Consumer) -> None:
        finished: list[TaskResult] = []  # results not yet recorded
        first_finished_at = last_delivery_at = 0.0
        while True:
            deliveries, results = self._drain(timeout_s=0.05)
            now = self._monotonic()
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
                or len(self._held) >= self._config.unsettled_limit
                or (not deliveries and now - last_delivery_at >= QUIET_BEFORE_RECORD_S)
            )
            to_record, finished = (finished, []) if record else ([], finished)
            if deliveries or to_record:
                self._step(deliveries, to_record)
            if not self._stop.is_set():
                continue
            if self._deadline is None:
                # Started here but not yet taken up by a worker (prefetch > 1): they go back
                # now for another processor to run, so the grace waits only for handlers
                # already running, as an instance leaving the fleet should.
                self._give_back([(id(d), (run, d)) for run, d in self._workers.take_unstarted()])
            deadline = self._stop_deadline()
            if not self._held and self._inbox.empty() and consumer.join(0):
                return
            if deadline is not None and self._monotonic() >= deadline:
                self._give_back_held()
                self._requeue_arrivals(consumer)
                return

    def _stop_deadline(self) -> float | None:
        """Once stopping: the monotonic instant the grace ends (fixed on the first call)."""
        if not self._stop.is_set():
            return None
        if self._deadline is None:
            grace_s = self._grace_s()
            log.info("stopping: waiting up to %.1f s for %d held tasks", grace_s, len(self._held))
            self._deadline = self._monotonic() + grace_s
        return self._deadline

    def _grace_s(self) -> float:
        if self._config.shutdown_grace_s is not None:
            return self._config.shutdown_grace_s
        # Finished tasks waiting for the database count too: their outcome must be recorded.
        return max((run.context.timeout_s for run, _ in self._held.values()), default=0.0) + 1.0

    def _drain(self, timeout_s: float) -> tuple[list[Delivery], list[TaskResult]]:
        deliveries: list[Delivery] = []
        results: list[TaskResult] = []
        try:
            item = self._inbox.get(timeout=timeout_s)
        except queue.Empty:
            return deliveries, results
        while True:
            (results if isinstance(item, TaskResult) else deliveries).append(item)  # type: ignore[arg-type]
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return deliveries, results

    def _give_back_held(self) -> None:
        self._give_back(list(self._held.items()))

    def _give_back(self, entries: list[tuple[int, tuple[StartedRun, Delivery]]]) -> None:
        """Set these held runs back to `Queued` and requeue their messages, for another
        processor to start."""
        runs = [run for _, (run, _) in entries]
        if runs:
            now = self._clock()
            self._writes.run(
                lambda: self._store.give_back_runs(runs, self._config.processor_id, now), attempts=1
            )
            log.warning("gave back %d unfinished or unrecorded tasks", len(runs))
        for key, (_, delivery) in entries:
            delivery.requeue()
            self._held.pop(key, None)

    def _requeue_arrivals(self, consumer: Consumer) -> None:
        """After the grace: give back whatever still arrives until the consumer has ended
        (deliveries in flight as consuming stopped), for at most CONSUMER_EXIT_S."""
        until = self._monotonic() + CONSUMER_EXIT_S
        while self._monotonic() < until:
            deliveries, _ = self._drain(timeout_s=0.05)
            for delivery in deliveries:
                delivery.requeue()
            if consumer.join(0) and self._inbox.empty():
                return

    def _step(self, deliveries: list[Delivery], results: list[TaskResult]) -> None:
        """Start what arrived, in one transaction, and hand the started runs to the workers;
        then record what finished, in a second one, and settle those messages. Starts go
        first: a task's start lag should not include the bookkeeping of the tasks before it."""
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
            if id(result.delivery) in self._held  # else given back at stop
        ]
        if messages:
            self._start(messages, now)
        if records:
            self._finish(records)

    def _start(self, messages: list[tuple[TaskMessage, Delivery]], now: datetime) -> None:
        me = self._config.processor_id
        lease = lease_until(now, self._config.lease_s)
        try:
            starts = self._writes.run(
                lambda: self._store.start_runs([m for m, _ in messages], me, now, lease), self._stop_deadline
            )
        except Exception as error:
            # Not an outage: something in the batch cannot be written. Row by row, the rows
            # that can be start and the one that cannot is dead-lettered with the error.
            if len(messages) > 1:
                log.warning(
                    "start of %d rows failed (%s); starting them one by one",
                    len(messages),
                    _first_line(error),
                )
                for one in messages:
                    self._start([one], now)
                return
            [(message, delivery)] = messages
            reason = excerpt(f"cannot be started: {_first_line(error)}") or ""
            log.error("row %d %s; dead-lettered", message.schedule_id, reason)
            try:
                self._writes.run(
                    lambda: self._store.bury_unstartable(message.schedule_id, reason, now),
                    self._stop_deadline,
                )
            except Exception as second:  # refused too: the message alone carries the reason
                log.error("row %d left as it is: %s", message.schedule_id, _first_line(second))
            delivery.dead_letter(delivery.body, reason)
            return
        if starts is None:  # stopping with the database away: give them back
            for _, delivery in messages:
                delivery.requeue()
            return
        self._dispatch(messages, *starts)

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
            self._held[id(delivery)] = (run, delivery)
            self._workers.submit(run, delivery)
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

    def _finish(self, records: list[Record]) -> None:
        me = self._config.processor_id
        try:
            changed = self._writes.run(
                lambda: self._store.finish_runs([r for _, r, _, _ in records], me), self._stop_deadline
            )
        except Exception as error:
            if len(records) > 1:
                log.warning("recording %d outcomes failed (%s); one by one", len(records), _first_line(error))
                for one in records:
                    self._finish([one])
                return
            self._give_up(records[0], error)
            return
        if changed is None:
            # Stopping with the database away: the tasks stay held and are given back when
            # the grace ends.
            return
        self._settle(records, changed)

    def _give_up(self, record: Record, error: Exception) -> None:
        """An outcome that cannot be written as it is (say, text the database refuses): the
        row is recorded `Dead` with the reason alone, and the message dead-lettered."""
        result, finished, _, _ = record
        reason = excerpt(f"outcome could not be recorded: {_first_line(error)}")
        dead = replace(
            finished,
            status=ScheduleStatus.DEAD,
            outcome="unrecordable",
            output_excerpt=None,
            error=reason,
            next_attempt_at=None,
        )
        log.error("row %d: %s", finished.run.message.schedule_id, reason)
        try:
            changed = self._writes.run(
                lambda: self._store.finish_runs([dead], self._config.processor_id), self._stop_deadline
            )
        except Exception as second:
            log.error(
                "row %d left to the reconciliation: %s", finished.run.message.schedule_id, _first_line(second)
            )
            changed = set()
        if changed is None:
            return
        self._settle([(result, dead, FailureAction.DEAD, 0)], changed)

    def _settle(self, records: list[Record], changed: set[int]) -> None:
        """After the outcomes are committed: ack, send the next attempt to the delay queue, or
        dead-letter."""
        for result, record, action, delay_ms in records:
            self._held.pop(id(result.delivery), None)
            if record.run.message.schedule_id not in changed:
                log.warning("row %d was taken over while running here", record.run.message.schedule_id)
            if action is FailureAction.RETRY:
                result.delivery.retry(encode_message(record.run.message.next_attempt()), delay_ms)
            elif action is FailureAction.DEAD:
                result.delivery.dead_letter(result.delivery.body, record.error or "failed")
            else:
                result.delivery.ack()

    def _record(self, result: TaskResult, now: datetime) -> tuple[FinishedRun, FailureAction | None, int]:
        return record_outcome(result, now, self._config.backoff_base_ms, self._config.backoff_max_ms)


def _first_line(error: Exception) -> str:
    return f"{error.__class__.__name__}: {describe_database_error(error)}"
