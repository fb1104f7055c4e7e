"""The stores of `engine.ports` on the database: one transaction per method.

Each class only draws the transaction boundary; the statements are the connection-level
functions of `schedule_store`, `distribution_store`, `reconcile_store` and `run_store`, which
other callers (services, tests) use inside transactions of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from engine.adapters import distribution_store, reconcile_store, run_store, schedule_counts, schedule_store
from engine.adapters.database import describe_database_error, is_outage
from engine.adapters.dead_letter_counts import merge_dead_letter_counts
from engine.adapters.policy_claims import claim_policy_rows
from engine.core.messages import TaskMessage
from engine.core.reconcile import RowSnapshot, StuckKind
from engine.core.runs import Claim, FinishedRun, Heartbeat, NotStarted, PendingTask, SchedulePlan, StartedRun
from engine.ports import StoreUnavailable


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()`, with an outage (`is_outage`) raised as StoreUnavailable: the
    processes know the ports, not the driver's exceptions."""
    try:
        with engine.begin() as connection:
            yield connection
    except Exception as error:
        if is_outage(error):
            raise StoreUnavailable(describe_database_error(error)) from error
        raise


class SqlScheduleStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def materialise(
        self,
        horizon: datetime,
        only_unmaterialised: bool,
        plan: Callable[[Sequence[PendingTask]], SchedulePlan],
    ) -> tuple[int, int]:
        with transaction(self._engine) as connection:
            pending = schedule_store.lock_pending_tasks(connection, horizon, only_unmaterialised)
            rows = plan(pending)
            added = sum(
                schedule_store.insert_fire_times(connection, task_ids, times)
                for task_ids, times in rows.fire_times
            )
            added += schedule_store.insert_rows(connection, rows.single_rows)
            by_policy = [task.id for task in pending if task.claimed_by_policy]
            schedule_store.mark_policy_rows(connection, by_policy)
            schedule_store.mark_materialised(connection, rows.marks)
        if added or not only_unmaterialised:
            # After the commit, in a transaction of its own: the counts this pass appended
            # (and any task edit's since) become one row per minute and type again, and the
            # dead letters counted since the last pass one row, under the same lock.
            with transaction(self._engine) as connection:
                if schedule_counts.merge_counts(connection):
                    merge_dead_letter_counts(connection)
        return len(pending), added


class SqlDistributionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(
        self, now: datetime, limit: int, claimer: str, lease_until: datetime, hand_over: Sequence[int]
    ) -> Claim:
        with transaction(self._engine) as connection:
            distribution_store.mark_handed_over(connection, hand_over, claimer)
            swept = distribution_store.sweep_expired_claims(connection, now)
            # Policy rows first: a task has few due at once, and the batch's rest goes to the
            # ordinary claim, which would otherwise fill it during a burst.
            by_policy, skipped = claim_policy_rows(connection, now, limit, claimer, lease_until)
            messages = distribution_store.claim_due_rows(
                connection, now, limit - len(by_policy), claimer, lease_until
            )
        if by_policy:
            messages = sorted(by_policy + messages, key=lambda m: (m.scheduled_time, m.schedule_id))
        return Claim(messages, swept, skipped)

    def settle(
        self, confirmed: Sequence[int], failed: Sequence[int], claimer: str, now: datetime
    ) -> tuple[int, datetime | None]:
        with transaction(self._engine) as connection:
            distribution_store.mark_handed_over(connection, confirmed, claimer)
            released = distribution_store.release_unpublished(connection, failed, claimer)
            return released, distribution_store.next_due_time(connection, now)

    def hand_over(self, schedule_ids: Sequence[int], claimer: str) -> int:
        with transaction(self._engine) as connection:
            return distribution_store.mark_handed_over(connection, schedule_ids, claimer)

    def next_due_time(self, now: datetime) -> datetime | None:
        # Committed, not rolled back, though it only reads: the driver forgets every
        # statement it has prepared on a rollback, and this read ends each loop of the
        # distributor, so its claim and sweep were planned again on every loop.
        with transaction(self._engine) as connection:
            return distribution_store.next_due_time(connection, now)


class SqlReconcileStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def find_stuck_rows(self, now: datetime, queued_after_s: float, limit: int) -> list[RowSnapshot]:
        with transaction(self._engine) as connection:
            return reconcile_store.find_stuck_rows(connection, now, queued_after_s, limit)

    def redrive_rows(self, rows: Sequence[tuple[RowSnapshot, StuckKind]]) -> Counter[StuckKind]:
        with transaction(self._engine) as connection:
            return reconcile_store.redrive_rows(connection, rows)


class SqlRunStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def start_runs(
        self, messages: Sequence[TaskMessage], processor_id: str, now: datetime, lease_until: datetime
    ) -> tuple[list[StartedRun], NotStarted]:
        with transaction(self._engine) as connection:
            return run_store.start_runs(connection, messages, processor_id, now, lease_until)

    def finish_runs(self, finished: Sequence[FinishedRun], processor_id: str) -> set[int]:
        with transaction(self._engine) as connection:
            return run_store.finish_runs(connection, finished, processor_id)

    def give_back_runs(self, runs: Sequence[StartedRun], processor_id: str, now: datetime) -> int:
        with transaction(self._engine) as connection:
            return run_store.give_back_runs(connection, runs, processor_id, now)

    def bury_unstartable(self, schedule_id: int, reason: str, now: datetime) -> bool:
        with transaction(self._engine) as connection:
            return run_store.bury_unstartable(connection, schedule_id, reason, now)

    def beat(
        self,
        heartbeat: Heartbeat,
        now: datetime,
        forget_before: datetime,
        held: Collection[int],
        lease_until: datetime,
    ) -> int:
        with transaction(self._engine) as connection:
            run_store.record_heartbeat(connection, heartbeat, now, forget_before)
            return run_store.renew_leases(connection, heartbeat.processor_id, held, lease_until)

    def remove_heartbeat(self, processor_id: str) -> None:
        with transaction(self._engine) as connection:
            run_store.remove_heartbeat(connection, processor_id)
