"""The processes against in-memory stores (`tests/unit/fake_stores.py`): every state
transition they drive, without a database, threads or sleeps. The same transitions on the
real databases are in tests/integration (test_run_store, test_distribution_store,
test_reconcile, test_scheduler)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from engine.core.messages import TaskMessage, decode_message, encode_message
from engine.core.runs import PendingTask, SchedulePlan
from engine.core.types import ScheduleStatus, TaskKind
from engine.ports import BrokerUnavailable, Delivery, OutgoingMessage, StoreUnavailable
from engine.processes import scheduler
from engine.processes.coordinator import Coordinator
from engine.processes.db_writes import Writes
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.processor import ProcessorConfig
from engine.processes.scheduler import run_pass
from engine.processes.workers import TaskResult, Workers
from tests.unit.fake_stores import (
    FakeDatabase,
    FakeDistributionStore,
    FakeReconcileStore,
    FakeRunStore,
    FakeScheduleStore,
    FakeTask,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
S = ScheduleStatus


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


@dataclass
class FakeBroker:
    """Confirms what `confirm` says (all by default); `down` raises BrokerUnavailable."""

    confirm: list[bool] | None = None
    down: bool = False
    published: list[OutgoingMessage] = field(default_factory=list)

    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        if self.down:
            raise BrokerUnavailable("connection refused")
        self.published.extend(messages)
        return list(self.confirm) if self.confirm is not None else [True] * len(messages)

    def consume(self, *args: object) -> None:
        raise AssertionError("not used")

    def visit_dead_letters(self, *args: object) -> int:
        raise AssertionError("not used")

    def close(self) -> None:
        pass


@dataclass
class FakeDelivery:
    """Remembers how it was settled."""

    body: bytes
    redelivered: bool = False
    settled: list[tuple[str, object]] = field(default_factory=list)

    def ack(self) -> None:
        self.settled.append(("ack", None))

    def requeue(self) -> None:
        self.settled.append(("requeue", None))

    def retry(self, body: bytes, delay_ms: int) -> None:
        self.settled.append(("retry", (decode_message(body).attempt, delay_ms)))

    def dead_letter(self, body: bytes, reason: str) -> None:
        self.settled.append(("dead_letter", reason))


# -- scheduler -----------------------------------------------------------------------------


def test_a_scheduler_pass_adds_each_fire_time_once_and_marks_the_tasks() -> None:
    db = FakeDatabase()
    db.tasks[1] = FakeTask(1, TaskKind.CRON, cron_expression="*/15 * * * *", updated_at=NOW)
    db.tasks[2] = FakeTask(2, TaskKind.ONCE, run_at=NOW + timedelta(minutes=7), updated_at=NOW)
    store = FakeScheduleStore(db)

    first = run_pass(None, NOW, forecast_hours=1, window_hours=1, store=store)
    again = run_pass(None, NOW, forecast_hours=1, window_hours=1, store=store)

    times = sorted(row.scheduled_time for row in db.rows.values() if row.task_id == 1)
    assert times == [NOW + timedelta(minutes=m) for m in (15, 30, 45, 60)]
    assert [row.scheduled_time for row in db.rows.values() if row.task_id == 2] == [
        NOW + timedelta(minutes=7)
    ]
    assert (first.tasks_expanded, first.rows_inserted) == (2, 5)
    assert (again.tasks_expanded, again.rows_inserted) == (0, 0)
    assert db.tasks[1].materialized_until == NOW + timedelta(hours=1)
    assert all(row.status is S.SCHEDULED for row in db.rows.values())


# -- distributor -----------------------------------------------------------------------------


def distributor(db: FakeDatabase, broker: FakeBroker, clock: FakeClock | None = None) -> Distributor:
    return Distributor(
        None,
        broker,
        DistributorConfig("d1", lease_s=30, reconcile_interval_s=10, reconcile_queued_after_s=600),
        clock=lambda: NOW,
        monotonic=clock or FakeClock(),
        store=FakeDistributionStore(db),
        reconcile_store=FakeReconcileStore(db),
    )


def test_the_distributor_claims_due_rows_publishes_them_and_hands_them_over() -> None:
    db = FakeDatabase()
    due = db.add_row(NOW - timedelta(seconds=1))
    later = db.add_row(NOW + timedelta(minutes=1))
    broker = FakeBroker()

    result = distributor(db, broker).run_once()

    assert (result.claimed, result.published, result.released) == (1, 1, 0)
    assert [decode_message(m.body).schedule_id for m in broker.published] == [due.id]
    assert (due.status, due.claimed_by, due.lease_expires_at, due.queued_at) == (S.QUEUED, "d1", None, NOW)
    assert later.status is S.SCHEDULED
    assert result.next_due == later.scheduled_time


def test_rows_whose_publish_was_not_confirmed_go_back_to_scheduled() -> None:
    db = FakeDatabase()
    first, second = db.add_row(NOW), db.add_row(NOW)
    result = distributor(db, FakeBroker(confirm=[True, False])).run_once()
    assert (result.published, result.released) == (1, 1)
    assert first.status is S.QUEUED
    assert (second.status, second.claimed_by, second.lease_expires_at) == (S.SCHEDULED, None, None)


def test_a_broker_outage_gives_every_claimed_row_back_and_is_raised() -> None:
    db = FakeDatabase()
    rows = [db.add_row(NOW), db.add_row(NOW)]
    with pytest.raises(BrokerUnavailable):
        distributor(db, FakeBroker(down=True)).run_once()
    assert [row.status for row in rows] == [S.SCHEDULED, S.SCHEDULED]


def test_a_database_outage_changes_nothing_and_is_raised() -> None:
    db = FakeDatabase()
    row = db.add_row(NOW)
    db.down = True
    broker = FakeBroker()
    with pytest.raises(StoreUnavailable):
        distributor(db, broker).run_once()
    assert (row.status, broker.published) == (S.SCHEDULED, [])


def test_an_expired_distributor_claim_is_swept_and_claimed_again() -> None:
    db = FakeDatabase()
    row = db.add_row(NOW, status=S.QUEUED, claimed_by="dead", lease_expires_at=NOW - timedelta(seconds=1))
    result = distributor(db, FakeBroker()).run_once()
    assert (result.swept, result.claimed) == (1, 1)
    assert (row.status, row.claimed_by) == (S.QUEUED, "d1")


# -- reconciliation ------------------------------------------------------------------------


def test_a_row_running_under_an_expired_lease_is_driven_on_after_two_looks() -> None:
    db = FakeDatabase()
    row = db.add_row(
        NOW - timedelta(hours=1), status=S.RUNNING, attempt=2, claimed_by="p-dead", lease_expires_at=NOW
    )
    clock = FakeClock()
    process = distributor(db, FakeBroker(), clock)

    assert process.reconcile(NOW) == 0  # first look: maybe its processor is just slow
    clock.now_s = 9.9
    assert process.reconcile(NOW) == 0
    clock.now_s = 10.0
    assert process.reconcile(NOW) == 1
    # The attempt never finished: it runs again under the same number.
    assert (row.status, row.attempt, row.claimed_by, row.lease_expires_at) == (S.SCHEDULED, 1, None, None)


def test_a_row_renewed_between_the_two_looks_is_left_alone() -> None:
    db = FakeDatabase()
    row = db.add_row(NOW, status=S.RUNNING, attempt=1, claimed_by="p1", lease_expires_at=NOW)
    clock = FakeClock()
    process = distributor(db, FakeBroker(), clock)
    assert process.reconcile(NOW) == 0
    row.lease_expires_at = NOW + timedelta(microseconds=1)  # renewed; expired again by `later`
    clock.now_s = 10.0
    later = NOW + timedelta(seconds=1)
    assert process.reconcile(later) == 0
    assert row.status is S.RUNNING


# -- processor: the coordinator ----------------------------------------------------------------


class Processor:
    """The coordinator and the workers, stepped by hand: no threads."""

    def __init__(
        self,
        db: FakeDatabase,
        handler: object = lambda context: "done",
        name: str = "p1",
        clock: Callable[[], datetime] = lambda: NOW,
    ) -> None:
        self.store = FakeRunStore(db)
        self.submitted: list[tuple[object, Delivery]] = []
        self.deadline: float | None = None
        self.clock = FakeClock()
        self.config = ProcessorConfig(name, lease_s=30, backoff_base_ms=1_000, backoff_max_ms=60_000)
        self.coordinator = Coordinator(
            self.store,
            Writes(self.clock, sleep=lambda s: setattr(self.clock, "now_s", self.clock.now_s + s)),
            self.config,
            lambda run, delivery: self.submitted.append((run, delivery)),
            clock,
            lambda: self.deadline,
        )
        self.workers = Workers({"job": handler}, 0, lambda result: None, monotonic=self.clock)  # type: ignore[dict-item]

    def deliver(self, *deliveries: FakeDelivery) -> None:
        self.coordinator.step(list(deliveries), [])

    def run_submitted(self) -> list[TaskResult]:
        results = [self.workers.execute(run, delivery) for run, delivery in self.submitted]  # type: ignore[arg-type]
        self.submitted.clear()
        return results

    def record(self, results: list[TaskResult]) -> None:
        self.coordinator.step([], results)


def message_for(row_id: int, attempt: int = 1) -> FakeDelivery:
    return FakeDelivery(encode_message(TaskMessage(row_id, 1, "job", attempt, NOW)))


def test_a_task_is_started_run_recorded_and_then_acknowledged() -> None:
    db = FakeDatabase()
    row = db.add_row(NOW - timedelta(milliseconds=250), status=S.QUEUED, claimed_by="d1")
    processor = Processor(db)
    delivery = message_for(row.id)

    processor.deliver(delivery)
    assert (row.status, row.attempt, row.claimed_by) == (S.RUNNING, 1, "p1")
    assert (row.lease_expires_at, row.start_lag_ms) == (NOW + timedelta(seconds=30), 250)
    assert delivery.settled == []  # not before the outcome is recorded

    processor.record(processor.run_submitted())
    assert (row.status, row.attempt, row.lease_expires_at) == (S.SUCCEEDED, 1, None)
    assert [(run.outcome, run.output_excerpt) for run in db.runs] == [("succeeded", "done")]
    assert delivery.settled == [("ack", None)]
    assert processor.coordinator.held == {}


def test_a_failed_attempt_is_recorded_failed_and_its_retry_sent_with_backoff() -> None:
    db = FakeDatabase()
    row = db.add_row(NOW, status=S.QUEUED)
    processor = Processor(db, handler=lambda context: 1 / 0)
    delivery = message_for(row.id)
    processor.deliver(delivery)
    processor.record(processor.run_submitted())
    assert (row.status, row.attempt, row.next_attempt_at) == (S.FAILED, 1, NOW + timedelta(seconds=1))
    assert row.last_error is not None and "ZeroDivisionError" in row.last_error
    assert delivery.settled == [("retry", (2, 1_000))]


def test_the_last_failed_attempt_is_recorded_dead_and_dead_lettered() -> None:
    db = FakeDatabase(max_attempts=2)
    row = db.add_row(NOW, status=S.FAILED, attempt=1, next_attempt_at=NOW)
    processor = Processor(db, handler=lambda context: 1 / 0)
    delivery = message_for(row.id, attempt=2)
    processor.deliver(delivery)
    processor.record(processor.run_submitted())
    assert (row.status, row.attempt, row.next_attempt_at) == (S.DEAD, 2, None)
    assert [kind for kind, _ in delivery.settled] == ["dead_letter"]


def test_a_copy_of_a_message_whose_row_runs_elsewhere_is_deferred_not_run() -> None:
    db = FakeDatabase()
    row = db.add_row(
        NOW, status=S.RUNNING, attempt=1, claimed_by="p2", lease_expires_at=NOW + timedelta(seconds=2)
    )
    processor = Processor(db)
    delivery = message_for(row.id)
    processor.deliver(delivery)
    assert processor.submitted == []
    assert delivery.settled == [("retry", (1, 2_500))]  # after the other's lease, plus a margin
    assert (row.status, row.claimed_by) == (S.RUNNING, "p2")


def test_a_copy_of_a_finished_row_is_dropped() -> None:
    db = FakeDatabase()
    row = db.add_row(NOW, status=S.SUCCEEDED, attempt=1)
    processor = Processor(db)
    delivery = message_for(row.id)
    processor.deliver(delivery)
    assert (processor.submitted, delivery.settled, row.status) == ([], [("ack", None)], S.SUCCEEDED)


def test_runs_given_back_are_queued_again_under_the_same_attempt() -> None:
    db = FakeDatabase()
    row = db.add_row(NOW, status=S.QUEUED)
    processor = Processor(db)
    delivery = message_for(row.id)
    processor.deliver(delivery)
    processor.coordinator.give_back_held()
    assert (row.status, row.attempt, row.claimed_by, row.queued_at) == (S.QUEUED, 0, None, NOW)
    assert delivery.settled == [("requeue", None)]
    assert processor.coordinator.held == {}


def test_an_outcome_the_database_cannot_take_before_the_deadline_stays_held() -> None:
    db = FakeDatabase()
    row = db.add_row(NOW, status=S.QUEUED)
    processor = Processor(db)
    delivery = message_for(row.id)
    processor.deliver(delivery)
    results = processor.run_submitted()
    db.down = True
    processor.deadline = 3.0  # stopping: the writes retry until this monotonic instant
    processor.record(results)
    assert processor.clock.now_s >= 3.0  # waited out, on the fake clock
    assert (row.status, delivery.settled, len(processor.coordinator.held)) == (S.RUNNING, [], 1)


def test_a_row_taken_over_while_running_here_is_not_recorded_twice() -> None:
    db = FakeDatabase()
    row = db.add_row(NOW, status=S.QUEUED)
    processor = Processor(db)
    delivery = message_for(row.id)
    processor.deliver(delivery)
    results = processor.run_submitted()
    row.claimed_by = "p2"  # this processor's lease lapsed and another one took the row over
    processor.record(results)
    assert (row.status, row.claimed_by, db.runs) == (S.RUNNING, "p2", [])
    assert delivery.settled == [("ack", None)]  # the other processor records the attempt


def test_the_scheduler_paces_full_passes_on_its_monotonic_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler, "PICKUP_INTERVAL_S", 0.001)
    db = FakeDatabase()
    kinds: list[str] = []

    class Recording(FakeScheduleStore):
        def materialise(
            self,
            horizon: datetime,
            only_unmaterialised: bool,
            plan: Callable[[Sequence[PendingTask]], SchedulePlan],
        ) -> tuple[int, int]:
            kinds.append("pickup" if only_unmaterialised else "full")
            return super().materialise(horizon, only_unmaterialised, plan)

    monotonic = FakeClock()
    stop = threading.Event()

    def after_pass(now: datetime) -> None:
        monotonic.now_s += 30  # half the interval between passes
        if len(kinds) == 5:
            stop.set()

    scheduler.run_forever(
        None,
        60,
        1.0,
        stop=stop,
        clock=lambda: NOW,
        after_pass=after_pass,
        store=Recording(db),
        monotonic=monotonic,
    )
    assert kinds == ["full", "pickup", "full", "pickup", "full"]
