"""The processor's coordinator: the only part that writes runs and settles messages.

Per batch of deliveries: decode them (a malformed one goes straight to the dead-letter queue
with its reason), start their rows in one store call and hand the started runs to the
workers. Per batch of results: record the outcomes in one store call, then settle each
message: ack, retry through the broker's delay path, or dead-letter. A batch that fails for
what it writes (not because the database is away) is written again row by row, and the row
that fails alone is dead-lettered with the error: one hostile message never holds up the
others. What it decides comes from `engine.core` (`leases.decide_start`,
`retry.decide_after_failure`); it never reads a clock of its own but the one it is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from engine.adapters.database import describe_database_error
from engine.core.execution import excerpt
from engine.core.leases import StartAction, StartDecision, lease_until
from engine.core.messages import MalformedMessage, TaskMessage, decode_message, encode_message
from engine.core.retry import FailureAction
from engine.core.runs import FinishedRun, StartedRun
from engine.core.types import ScheduleStatus
from engine.ports import Clock, Delivery, RunStore
from engine.processes.db_writes import Writes
from engine.processes.workers import TaskResult, record_outcome

if TYPE_CHECKING:
    from engine.processes.processor import ProcessorConfig

log = logging.getLogger("headway.processor")

Record = tuple[TaskResult, FinishedRun, FailureAction | None, int]
# A run started here and not yet recorded, with its delivery; keyed by id() of the delivery.
Held = tuple[StartedRun, Delivery]


class Coordinator:
    def __init__(
        self,
        store: RunStore,
        writes: Writes,
        config: ProcessorConfig,
        submit: Callable[[StartedRun, Delivery], None],
        clock: Clock,
        deadline: Callable[[], float | None] = lambda: None,
    ) -> None:
        """`submit` hands a started run to the workers; `deadline()` is the monotonic instant
        a write stops waiting for the database (None: no limit; set once stopping)."""
        self._store = store
        self._writes = writes
        self._config = config
        self._submit = submit
        self._clock = clock
        self._stop_deadline = deadline
        # Tasks started here and not yet recorded (running, or finished and waiting for the
        # database), by id() of their delivery: the heartbeat keeps their leases.
        self.held: dict[int, Held] = {}

    def held_ids(self) -> list[int]:
        # A copy taken at once: the coordinator changes the dict meanwhile.
        return [run.message.schedule_id for run, _ in list(self.held.values())]

    def longest_timeout_s(self) -> float:
        """The longest timeout among the held runs (0 if none)."""
        return max((run.context.timeout_s for run, _ in self.held.values()), default=0.0)

    def give_back_held(self) -> None:
        self.give_back(list(self.held.items()))

    def give_back(self, entries: list[tuple[int, tuple[StartedRun, Delivery]]]) -> None:
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
            self.held.pop(key, None)

    def step(self, deliveries: list[Delivery], results: list[TaskResult]) -> None:
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
            if id(result.delivery) in self.held  # else given back at stop
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
            self.held[id(delivery)] = (run, delivery)
            self._submit(run, delivery)
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
            self.held.pop(id(result.delivery), None)
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
