"""The Processor: consumes task messages, runs handlers in worker threads, records outcomes.

Four parts with one job each: the consumer (`engine.processes.consumer`) takes messages from
the broker; the workers (`engine.processes.workers`) run handlers; the heartbeat
(`engine.processes.heartbeat`) renews leases; the coordinator
(`engine.processes.coordinator`) is the only one that writes runs and settles messages.
This module wires them and runs the loop that feeds the coordinator: starts at once,
outcomes in batches, so a busy processor does not pay one commit per task.

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
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from engine.adapters.sql_stores import SqlRunStore
from engine.ports import Broker, Clock, Delivery, Handler, Monotonic, Progress, RunStore
from engine.processes.consumer import Consumer
from engine.processes.coordinator import Coordinator
from engine.processes.db_writes import Writes
from engine.processes.heartbeat import HeartbeatThread
from engine.processes.inbox import Inbox
from engine.processes.workers import TaskResult, Workers

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
        # Deliveries from the consumer and results from the workers, for the coordinator.
        self._inbox: Inbox[Delivery | TaskResult] = Inbox()
        self._workers = Workers(handlers, config.concurrency, self._inbox.put, monotonic)
        self._coordinator = Coordinator(
            store, Writes(monotonic), config, self._workers.submit, clock, self._stop_deadline
        )
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
            self._coordinator.held_ids,
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
            Writes(self._monotonic).run(lambda: self._store.remove_heartbeat(config.processor_id), attempts=1)

    # -- the loop: when to start and when to record ------------------------------------------

    def _coordinate(self, consumer: Consumer) -> None:
        """Feed the coordinator: starts at once, outcomes batched (see below); once stopping,
        until everything held is recorded or given back, or the grace ends."""
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
                or len(self._coordinator.held) >= self._config.unsettled_limit
                or (not deliveries and now - last_delivery_at >= QUIET_BEFORE_RECORD_S)
            )
            to_record, finished = (finished, []) if record else ([], finished)
            if deliveries or to_record:
                self._coordinator.step(deliveries, to_record)
            if not self._stop.is_set():
                continue
            if self._deadline is None:
                # Started here but not yet taken up by a worker (prefetch > 1): they go back
                # now for another processor to run, so the grace waits only for handlers
                # already running, as an instance leaving the fleet should.
                self._coordinator.give_back([(id(d), (run, d)) for run, d in self._workers.take_unstarted()])
            deadline = self._stop_deadline()
            if not self._coordinator.held and self._inbox.empty() and consumer.join(0):
                return
            if deadline is not None and self._monotonic() >= deadline:
                self._coordinator.give_back_held()
                self._requeue_arrivals(consumer)
                return

    def _stop_deadline(self) -> float | None:
        """Once stopping: the monotonic instant the grace ends (fixed on the first call)."""
        if not self._stop.is_set():
            return None
        if self._deadline is None:
            grace_s = self._grace_s()
            log.info("stopping: waiting up to %.1f s for %d held tasks", grace_s, len(self._coordinator.held))
            self._deadline = self._monotonic() + grace_s
        return self._deadline

    def _grace_s(self) -> float:
        if self._config.shutdown_grace_s is not None:
            return self._config.shutdown_grace_s
        # Finished tasks waiting for the database count too: their outcome must be recorded.
        return self._coordinator.longest_timeout_s() + 1.0

    def _drain(self, timeout_s: float) -> tuple[list[Delivery], list[TaskResult]]:
        deliveries: list[Delivery] = []
        results: list[TaskResult] = []
        for item in self._inbox.take_all(timeout_s):
            (results if isinstance(item, TaskResult) else deliveries).append(item)  # type: ignore[arg-type]
        return deliveries, results

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
