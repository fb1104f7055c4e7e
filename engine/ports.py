"""What the processes need from the outside, as small Protocols. Adapters implement them:
`engine.adapters.rabbitmq` and `engine.adapters.memory_broker` the Broker, the handler
registry the handlers, `engine.adapters.sql_stores` the stores (`tests/unit/fake_stores.py`
in memory). A Kafka broker would implement `Broker` and `Delivery` alone.

Each store method is one transaction: it commits before it returns, or changes nothing and
raises (`StoreUnavailable` when the database is away and the same call may succeed later;
anything else when what it writes cannot be written). Every status change names the status
it expects to replace, so a row that moved meanwhile is left alone and reported as such."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from engine.core.execution import TaskContext
from engine.core.messages import TaskMessage
from engine.core.reconcile import RowSnapshot, StuckKind
from engine.core.runs import Claim, FinishedRun, Heartbeat, NotStarted, PendingTask, SchedulePlan, StartedRun

Clock = Callable[[], datetime]
# Called by a process's loop after each step: True when the step did its work, False when it
# failed. The health endpoint (`engine.adapters.health_server.LoopProgress`) reads it.
Progress = Callable[[bool], None]
# Seconds on a clock that never goes back (time.monotonic): for timeouts, graces and pacing
# inside the loops, injected so that tests can move it.
Monotonic = Callable[[], float]


class BrokerUnavailable(ConnectionError):
    """The broker cannot be reached now; the caller backs off and tries again."""


class StoreUnavailable(ConnectionError):
    """The database cannot be reached now (connection lost or refused, locked, timed out):
    nothing was written, and the same call may succeed later."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    body: bytes
    message_id: str  # the idempotency key, also set as the broker's message id


@dataclass(frozen=True, slots=True)
class DeadLetter:
    body: bytes
    reason: str
    dead_lettered_at: str  # ISO-8601, as the broker stored it


class Delivery(Protocol):
    """One message handed to a consumer. Exactly one settling call ends it; each may be
    called from any thread. After the consumer's connection was lost a settling call does
    nothing: the broker has already given the message to someone else."""

    body: bytes
    redelivered: bool

    def ack(self) -> None:
        """Done with it: remove it from the queue."""

    def requeue(self) -> None:
        """Give it back to the queue now, for this or another consumer."""

    def retry(self, body: bytes, delay_ms: int) -> None:
        """Publish `body` to come back to the task queue after `delay_ms`, wait for the broker
        to confirm it, then ack this delivery. Never sleeps holding the message."""

    def dead_letter(self, body: bytes, reason: str) -> None:
        """Publish `body` with `reason` to the dead-letter queue (confirmed), then ack."""


class Broker(Protocol):
    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        """Publish persistent messages to the task queue and wait for the broker to confirm
        them as a batch. Returns, per message, whether the broker took responsibility for it
        (False: nacked, unroutable, or the connection dropped first). Raises
        BrokerUnavailable if it could not even start. An empty batch only makes sure the
        connection is open and kept alive, so that the next batch does not wait for it."""

    def consume(self, on_delivery: Callable[[Delivery], None], prefetch: int, stop: threading.Event) -> None:
        """Deliver messages to `on_delivery` (called on the broker's thread, so it must return
        quickly) with at most `prefetch` unsettled at once, until `stop` is set. Raises
        BrokerUnavailable when the connection is lost; unsettled deliveries then go back
        to the queue."""

    def visit_dead_letters(self, visit: Callable[[DeadLetter], bool], limit: int) -> int:
        """Show up to `limit` dead letters to `visit`; those it returns True for are removed.
        Returns how many were shown."""

    def close(self) -> None: ...


class Handler(Protocol):
    """Runs one attempt. Returns an output excerpt on success; raises TaskFailed (or any
    exception, taken as a retryable failure) otherwise."""

    def __call__(self, context: TaskContext) -> str | None: ...


class ScheduleStore(Protocol):
    """What the scheduler needs (`engine.processes.scheduler`)."""

    def materialise(
        self,
        horizon: datetime,
        only_unmaterialised: bool,
        plan: Callable[[Sequence[PendingTask]], SchedulePlan],
    ) -> tuple[int, int]:
        """In one transaction: lock the active tasks whose rows do not reach `horizon` (only
        those never materialised, if `only_unmaterialised`), ask `plan` which rows they get,
        add those rows as `Scheduled` (skipping any that exist) and record the marks.
        Returns (tasks locked, rows added). A task another scheduler holds is skipped."""


class DistributionStore(Protocol):
    """What the distributor needs (`engine.processes.distributor`)."""

    def claim(
        self, now: datetime, limit: int, claimer: str, lease_until: datetime, hand_over: Sequence[int]
    ) -> Claim:
        """In one transaction: hand over the rows of `hand_over` (as `hand_over` below), return
        to `Scheduled` the `Queued` rows whose claim expired by `now`, decide the due rows of
        tasks with scheduling policies (`engine.core.policies.decide_claims`: claimed, Skipped,
        or left waiting), then move up to `limit` (all told) due `Scheduled` rows, oldest
        first, to `Queued` under `claimer` until `lease_until`."""

    def settle(
        self, confirmed: Sequence[int], failed: Sequence[int], claimer: str, now: datetime
    ) -> tuple[int, datetime | None]:
        """After a publish: hand over the `confirmed` rows, give the `failed` ones back to
        `Scheduled` (only those still `Queued` under `claimer`). Returns (rows given back,
        `next_due_time(now)`)."""

    def hand_over(self, schedule_ids: Sequence[int], claimer: str) -> int:
        """The broker confirmed these rows' messages: rows still `Queued` under `claimer` drop
        their lease, so no sweep publishes them again. Returns how many did."""

    def next_due_time(self, now: datetime) -> datetime | None:
        """The earliest scheduled time still `Scheduled`, leaving out rows of tasks with
        scheduling policies due by `now` (they wait for an earlier run to end)."""


class ReconcileStore(Protocol):
    """What the reconciliation needs (`engine.core.reconcile` decides)."""

    def find_stuck_rows(self, now: datetime, queued_after_s: float, limit: int) -> list[RowSnapshot]:
        """Rows that may have stopped moving at `now`, up to `limit` of each kind."""

    def redrive_rows(self, rows: Sequence[tuple[RowSnapshot, StuckKind]]) -> Counter[StuckKind]:
        """Each row still exactly as seen goes back to `Scheduled`; counts per kind."""


class RunStore(Protocol):
    """What the processor needs (`engine.processes.processor`, `...heartbeat`)."""

    def start_runs(
        self, messages: Sequence[TaskMessage], processor_id: str, now: datetime, lease_until: datetime
    ) -> tuple[list[StartedRun], NotStarted]:
        """Decide each message against its row (`engine.core.leases.decide_start`) and set the
        rows decided START `Running` at `now`, leased to `processor_id`. Returns the runs to
        execute and, for every other message, what to do with it instead."""

    def finish_runs(self, finished: Sequence[FinishedRun], processor_id: str) -> set[int]:
        """Record outcomes: each row `Running` at its attempt under `processor_id` takes its
        new status and gets its `task_runs` row; an outcome that ends a run gives the `after`
        tasks waiting for it their rows, in the same transaction and once per run
        (`engine.core.dependencies`). Returns the schedule ids changed; a row missing from it
        was taken over meanwhile, and nothing is written for it."""

    def give_back_runs(self, runs: Sequence[StartedRun], processor_id: str, now: datetime) -> int:
        """Runs that will not finish here: `Running` under `processor_id` -> `Queued` at the
        previous attempt, queued anew at `now`. Returns how many rows changed."""

    def bury_unstartable(self, schedule_id: int, reason: str, now: datetime) -> bool:
        """A row whose start the database refuses: `Dead` with `reason`, if it waits to start;
        its `on: finished` dependents are triggered as by any other end."""

    def beat(
        self,
        heartbeat: Heartbeat,
        now: datetime,
        forget_before: datetime,
        held: Collection[int],
        lease_until: datetime,
    ) -> int:
        """Upsert the heartbeat, forget processors not seen since `forget_before`, and renew to
        `lease_until` the lease of the `held` rows still `Running` under this processor.
        Returns how many leases were renewed."""

    def remove_heartbeat(self, processor_id: str) -> None: ...
