"""When a task runs twice: each cause the README's "At-least-once, and the idempotency key"
states, and the duplicates that must not run it twice, step by step on the in-memory stores
(the same faults on real processes and servers: tests/acceptance/test_faults.py and
test_chaos.py)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from engine.core.execution import TaskContext
from engine.core.runs import Heartbeat
from engine.core.types import ScheduleStatus
from engine.processes.distributor import Distributor, DistributorConfig
from tests.unit.fake_stores import FakeDatabase, FakeDistributionStore, FakeReconcileStore, FakeRow
from tests.unit.test_processes_with_fake_stores import (
    NOW,
    FakeBroker,
    FakeClock,
    FakeDelivery,
    Processor,
)

S = ScheduleStatus
LEASE_S = 30


class Handler:
    """Counts the runs of each row: what the endpoint behind the idempotency key would see."""

    def __init__(self) -> None:
        self.runs: Counter[int] = Counter()

    def __call__(self, context: TaskContext) -> str:
        self.runs[context.schedule_id] += 1
        return "done"


class Wall:
    """The clock every process reads, moved by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def distributor(db: FakeDatabase, broker: FakeBroker, wall: Wall, monotonic: FakeClock) -> Distributor:
    config = DistributorConfig("d1", lease_s=LEASE_S, reconcile_interval_s=10, reconcile_queued_after_s=600)
    return Distributor(
        None,
        broker,
        config,
        clock=wall,
        monotonic=monotonic,
        store=FakeDistributionStore(db),
        reconcile_store=FakeReconcileStore(db),
    )


def processor(db: FakeDatabase, handler: Handler, name: str, wall: Wall) -> Processor:
    return Processor(db, handler, name, clock=wall)


def published(broker: FakeBroker) -> list[FakeDelivery]:
    """The messages published so far, as deliveries, and forget them."""
    deliveries = [FakeDelivery(m.body) for m in broker.published]
    broker.published.clear()
    return deliveries


def run_to_completion(process: Processor, *deliveries: FakeDelivery) -> None:
    process.deliver(*deliveries)
    process.record(process.run_submitted())


def one_row() -> tuple[FakeDatabase, FakeRow, Handler, Wall]:
    db = FakeDatabase()
    return db, db.add_row(NOW), Handler(), Wall()


# -- the stated causes ----------------------------------------------------------------------


def test_a_processor_killed_after_the_handler_ran_and_before_the_outcome_was_recorded() -> None:
    db, row, handler, wall = one_row()
    broker = FakeBroker()
    distributor(db, broker, wall, FakeClock()).run_once()
    [message] = published(broker)
    first = processor(db, handler, "p1", wall)
    first.deliver(message)
    first.run_submitted()  # the handler ran; p1 is killed before it records the outcome

    # The broker redelivers the unacknowledged message; under p1's live lease it is parked.
    wall.now = NOW + timedelta(seconds=LEASE_S - 1)
    second = processor(db, handler, "p2", wall)
    redelivered = FakeDelivery(message.body, redelivered=True)
    second.deliver(redelivered)
    assert redelivered.settled[0][0] == "retry" and handler.runs[row.id] == 1

    # After the lease, the parked copy takes the row over and runs the attempt again.
    wall.now = NOW + timedelta(seconds=LEASE_S)
    again = FakeDelivery(message.body)
    run_to_completion(second, again)
    assert handler.runs[row.id] == 2
    assert (row.status, row.attempt, len(db.runs)) == (S.SUCCEEDED, 1, 1)


def test_a_stopping_processor_whose_grace_ran_out_gives_the_task_back() -> None:
    db, row, handler, wall = one_row()
    broker = FakeBroker()
    distributor(db, broker, wall, FakeClock()).run_once()
    [message] = published(broker)
    first = processor(db, handler, "p1", wall)
    first.deliver(message)
    first.run_submitted()  # still running (or unrecorded) when the grace ends
    first.coordinator.give_back_held()
    assert message.settled == [("requeue", None)] and (row.status, row.attempt) == (S.QUEUED, 0)

    run_to_completion(processor(db, handler, "p2", wall), FakeDelivery(message.body, redelivered=True))
    assert handler.runs[row.id] == 2
    assert (row.status, row.attempt, len(db.runs)) == (S.SUCCEEDED, 1, 1)


def test_a_processor_cut_off_from_the_database_longer_than_its_lease_and_a_reconcile_interval() -> None:
    db, row, handler, wall = one_row()
    broker = FakeBroker()
    monotonic = FakeClock()
    distributing = distributor(db, broker, wall, monotonic)
    distributing.run_once()
    [message] = published(broker)
    first = processor(db, handler, "p1", wall)
    first.deliver(message)
    results = first.run_submitted()  # p1 cannot reach the database: no heartbeat, no record

    wall.now = NOW + timedelta(seconds=LEASE_S)
    assert distributing.reconcile(wall.now) == 0  # first look
    monotonic.now_s = 10.0
    wall.now += timedelta(seconds=10)
    assert distributing.reconcile(wall.now) == 1  # seen stuck and unchanged: driven on
    distributing.run_once()
    run_to_completion(processor(db, handler, "p2", wall), *published(broker))
    assert handler.runs[row.id] == 2

    first.record(results)  # p1 reaches the database again: its outcome is refused
    assert (row.claimed_by, len(db.runs)) == ("p2", 1)
    assert message.settled == [("ack", None)]


# -- nothing else runs it twice -------------------------------------------------------------


def test_a_distributor_killed_between_the_confirm_and_the_hand_over_publishes_twice_runs_once() -> None:
    db, row, handler, wall = one_row()
    broker = FakeBroker()
    killed = distributor(db, broker, wall, FakeClock())
    killed._loop(defer_hand_over=True)  # confirmed; the hand-over waits (as in `run`); killed
    [first_copy] = published(broker)
    assert row.lease_expires_at is not None

    wall.now = NOW + timedelta(seconds=LEASE_S)  # the claim lapses: the sweep publishes again
    distributor(db, broker, wall, FakeClock()).run_once()
    [second_copy] = published(broker)

    process = processor(db, handler, "p1", wall)
    process.deliver(first_copy)
    process.deliver(second_copy)  # the row is Running here: parked, not run
    assert second_copy.settled[0][0] == "retry"
    process.record(process.run_submitted())
    wall.now += timedelta(seconds=LEASE_S)
    parked = FakeDelivery(second_copy.body)
    process.deliver(parked)  # comes back after the lease: the row is finished, dropped
    assert parked.settled == [("ack", None)]
    assert handler.runs[row.id] == 1 and len(db.runs) == 1


def test_a_message_redelivered_after_its_outcome_was_recorded_is_dropped() -> None:
    db, row, handler, wall = one_row()
    broker = FakeBroker()
    distributor(db, broker, wall, FakeClock()).run_once()
    [message] = published(broker)
    process = processor(db, handler, "p1", wall)
    run_to_completion(process, message)  # recorded; say the ack was lost with the connection
    copy = FakeDelivery(message.body, redelivered=True)
    process.deliver(copy)
    assert (copy.settled, handler.runs[row.id], len(db.runs)) == ([("ack", None)], 1, 1)


def test_a_database_outage_alone_does_not_make_the_reconciliation_run_a_live_task_again() -> None:
    db, row, handler, wall = one_row()
    broker = FakeBroker()
    monotonic = FakeClock()
    distributing = distributor(db, broker, wall, monotonic)
    distributing.run_once()
    [message] = published(broker)
    process = processor(db, handler, "p1", wall)
    process.deliver(message)

    # The whole database was away for longer than the lease: back now, every lease lapsed.
    wall.now = NOW + timedelta(seconds=2 * LEASE_S)
    assert distributing.reconcile(wall.now) == 0  # the first look after the outage
    lease = row.lease_expires_at
    process.store.beat(  # p1's heartbeat, within its interval
        Heartbeat("p1", "host", 1, 1, NOW),
        wall.now,
        wall.now - timedelta(minutes=1),
        process.coordinator.held_ids(),
        wall.now + timedelta(seconds=LEASE_S),
    )
    assert row.lease_expires_at != lease
    monotonic.now_s = 10.0
    wall.now += timedelta(seconds=10)
    assert distributing.reconcile(wall.now) == 0  # renewed in between: left alone
    process.record(process.run_submitted())
    assert (handler.runs[row.id], row.status, len(db.runs)) == (1, S.SUCCEEDED, 1)
