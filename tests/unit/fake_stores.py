"""In-memory stores (`engine.ports`) for driving the processes without a database.

One `FakeDatabase` holds the rows; each fake store reads and writes it as the SQL stores do
the tables, with the same conditions: a status change names the status it replaces. The
decisions come from `engine.core`, as in the SQL stores, so the fakes cannot drift from them
in what they decide, only in how they store it. `FakeDatabase.down` makes every call raise
StoreUnavailable, as a database outage does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.core.execution import TaskContext
from engine.core.leases import RowState, StartAction, decide_start, start_lag_ms
from engine.core.messages import TaskMessage
from engine.core.reconcile import RowSnapshot, StuckKind, attempt_after_redrive
from engine.core.runs import Claim, FinishedRun, Heartbeat, NotStarted, PendingTask, SchedulePlan, StartedRun
from engine.core.types import ScheduleStatus, TaskKind
from engine.ports import StoreUnavailable

S = ScheduleStatus


@dataclass
class FakeTask:
    id: int
    kind: TaskKind
    task_type: str = "job"
    cron_expression: str | None = None
    timezone: str | None = "UTC"
    run_at: datetime | None = None
    updated_at: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    materialized_until: datetime | None = None
    active: bool = True
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class FakeRow:
    id: int
    task_id: int
    task_type: str
    scheduled_time: datetime
    status: ScheduleStatus = S.SCHEDULED
    attempt: int = 0
    claimed_by: str | None = None
    lease_expires_at: datetime | None = None
    queued_at: datetime | None = None
    next_attempt_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_error: str | None = None
    start_lag_ms: int | None = None

    def snapshot(self) -> RowSnapshot:
        return RowSnapshot(
            self.id,
            self.status,
            self.attempt,
            self.claimed_by,
            self.lease_expires_at,
            self.queued_at,
            self.next_attempt_at,
            self.finished_at,
        )


@dataclass
class FakeDatabase:
    tasks: dict[int, FakeTask] = field(default_factory=dict)
    rows: dict[int, FakeRow] = field(default_factory=dict)
    runs: list[FinishedRun] = field(default_factory=list)  # the task_runs table
    heartbeats: dict[str, datetime] = field(default_factory=dict)
    max_attempts: int = 3
    timeout_s: float = 5.0
    down: bool = False

    def check(self) -> None:
        if self.down:
            raise StoreUnavailable("connection refused (fake outage)")

    def add_row(self, scheduled_time: datetime, task_id: int = 1, **values: Any) -> FakeRow:
        row = FakeRow(len(self.rows) + 1, task_id, "job", scheduled_time, **values)
        self.rows[row.id] = row
        return row

    def statuses(self) -> dict[int, tuple[str, int]]:
        return {row.id: (row.status.value, row.attempt) for row in self.rows.values()}


class FakeScheduleStore:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def materialise(
        self,
        horizon: datetime,
        only_unmaterialised: bool,
        plan: Callable[[Sequence[PendingTask]], SchedulePlan],
    ) -> tuple[int, int]:
        self.db.check()
        pending = [
            PendingTask(
                task.id,
                task.kind,
                task.cron_expression,
                task.timezone,
                task.run_at,
                task.materialized_until or task.updated_at,
            )
            for task in self.db.tasks.values()
            if task.active
            and (
                task.materialized_until is None
                or (
                    not only_unmaterialised
                    and task.kind is TaskKind.CRON
                    and task.materialized_until < horizon
                )
            )
        ]
        rows = plan(pending)
        existing = {(row.task_id, row.scheduled_time) for row in self.db.rows.values()}
        wanted = [(t, at) for task_ids, times in rows.fire_times for t in task_ids for at in times]
        added = 0
        for task_id, at in [*wanted, *rows.single_rows]:
            if (task_id, at) not in existing:
                existing.add((task_id, at))
                self.db.add_row(at, task_id)
                added += 1
        for task_id, until in rows.marks:
            self.db.tasks[task_id].materialized_until = until
        return len(pending), added


class FakeDistributionStore:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def claim(
        self, now: datetime, limit: int, claimer: str, lease_until: datetime, hand_over: Sequence[int]
    ) -> Claim:
        self.db.check()
        self._hand_over(hand_over, claimer)
        swept = 0
        for row in self.db.rows.values():
            if row.status is S.QUEUED and row.lease_expires_at is not None and row.lease_expires_at <= now:
                self._unclaim(row)
                swept += 1
        due = sorted(
            (r for r in self.db.rows.values() if r.status is S.SCHEDULED and r.scheduled_time <= now),
            key=lambda r: r.scheduled_time,
        )[:limit]
        for row in due:
            row.status, row.claimed_by, row.lease_expires_at, row.queued_at = (
                S.QUEUED,
                claimer,
                lease_until,
                now,
            )
        messages = [TaskMessage(r.id, r.task_id, r.task_type, r.attempt + 1, r.scheduled_time) for r in due]
        return Claim(sorted(messages, key=lambda m: (m.scheduled_time, m.schedule_id)), swept)

    def settle(
        self, confirmed: Sequence[int], failed: Sequence[int], claimer: str, now: datetime
    ) -> tuple[int, datetime | None]:
        self.db.check()
        self._hand_over(confirmed, claimer)
        released = 0
        for row in self._queued_by(failed, claimer):
            self._unclaim(row)
            released += 1
        return released, self._next_due()

    def hand_over(self, schedule_ids: Sequence[int], claimer: str) -> int:
        self.db.check()
        return self._hand_over(schedule_ids, claimer)

    def next_due_time(self, now: datetime) -> datetime | None:
        self.db.check()
        return self._next_due()

    def _next_due(self) -> datetime | None:
        return min((r.scheduled_time for r in self.db.rows.values() if r.status is S.SCHEDULED), default=None)

    def _hand_over(self, schedule_ids: Sequence[int], claimer: str) -> int:
        rows = self._queued_by(schedule_ids, claimer)
        for row in rows:
            row.lease_expires_at = None
        return len(rows)

    def _queued_by(self, schedule_ids: Sequence[int], claimer: str) -> list[FakeRow]:
        rows = (self.db.rows.get(i) for i in schedule_ids)
        return [r for r in rows if r is not None and r.status is S.QUEUED and r.claimed_by == claimer]

    @staticmethod
    def _unclaim(row: FakeRow) -> None:
        row.status, row.claimed_by, row.lease_expires_at, row.queued_at = S.SCHEDULED, None, None, None


class FakeReconcileStore:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def find_stuck_rows(self, now: datetime, queued_after_s: float, limit: int) -> list[RowSnapshot]:
        self.db.check()
        queued_before = now - timedelta(seconds=queued_after_s)
        rows = self.db.rows.values()
        kinds = [
            [
                r
                for r in rows
                if r.status is S.QUEUED and r.lease_expires_at is None and _le(r.queued_at, queued_before)
            ],
            [r for r in rows if r.status is S.RUNNING and _le(r.lease_expires_at, now)],
            [r for r in rows if r.status is S.FAILED and _le(r.next_attempt_at, queued_before)],
        ]
        return [row.snapshot() for kind in kinds for row in kind[:limit]]

    def redrive_rows(self, rows: Sequence[tuple[RowSnapshot, StuckKind]]) -> Counter[StuckKind]:
        self.db.check()
        changed: Counter[StuckKind] = Counter()
        for seen, kind in rows:
            row = self.db.rows.get(seen.id)
            if row is None or row.snapshot().fingerprint() != seen.fingerprint():
                continue
            row.status, row.attempt = S.SCHEDULED, attempt_after_redrive(seen)
            row.claimed_by = row.lease_expires_at = row.queued_at = row.next_attempt_at = None
            changed[kind] += 1
        return changed


def _le(value: datetime | None, bound: datetime) -> bool:
    return value is not None and value <= bound


class FakeRunStore:
    def __init__(self, db: FakeDatabase) -> None:
        self.db = db

    def start_runs(
        self, messages: Sequence[TaskMessage], processor_id: str, now: datetime, lease_until: datetime
    ) -> tuple[list[StartedRun], NotStarted]:
        self.db.check()
        started: list[StartedRun] = []
        others: NotStarted = []
        for message in messages:
            row = self.db.rows.get(message.schedule_id)
            state = (
                None
                if row is None
                else RowState(row.status, row.attempt, row.lease_expires_at, row.next_attempt_at)
            )
            decision = decide_start(state, message.attempt, now)
            if decision.action is not StartAction.START or row is None:
                others.append((message, decision))
                continue
            row.status, row.attempt, row.claimed_by = S.RUNNING, message.attempt, processor_id
            row.started_at, row.finished_at, row.lease_expires_at, row.next_attempt_at = (
                now,
                None,
                lease_until,
                None,
            )
            if row.start_lag_ms is None:
                row.start_lag_ms = start_lag_ms(row.scheduled_time, now)
            started.append(StartedRun(message, self._context(row), "job", now, row.scheduled_time))
        return started, others

    def finish_runs(self, finished: Sequence[FinishedRun], processor_id: str) -> set[int]:
        self.db.check()
        changed: set[int] = set()
        for f in finished:
            row = self._running(f.run, processor_id)
            if row is None:
                continue
            row.status, row.finished_at, row.last_error = f.status, f.finished_at, f.error
            row.next_attempt_at, row.lease_expires_at = f.next_attempt_at, None
            self.db.runs.append(f)
            changed.add(row.id)
        return changed

    def give_back_runs(self, runs: Sequence[StartedRun], processor_id: str, now: datetime) -> int:
        self.db.check()
        count = 0
        for run in runs:
            row = self._running(run, processor_id)
            if row is not None:
                row.status, row.attempt, row.queued_at = S.QUEUED, run.message.attempt - 1, now
                row.claimed_by = row.lease_expires_at = None
                count += 1
        return count

    def bury_unstartable(self, schedule_id: int, reason: str, now: datetime) -> bool:
        self.db.check()
        row = self.db.rows.get(schedule_id)
        if row is None or row.status not in (S.SCHEDULED, S.QUEUED, S.FAILED):
            return False
        row.status, row.last_error, row.finished_at = S.DEAD, reason, now
        row.claimed_by = row.lease_expires_at = row.next_attempt_at = None
        return True

    def beat(
        self,
        heartbeat: Heartbeat,
        now: datetime,
        forget_before: datetime,
        held: Collection[int],
        lease_until: datetime,
    ) -> int:
        self.db.check()
        self.db.heartbeats[heartbeat.processor_id] = now
        self.db.heartbeats = {p: seen for p, seen in self.db.heartbeats.items() if seen >= forget_before}
        renewed = 0
        for schedule_id in held:
            row = self.db.rows.get(schedule_id)
            if row is not None and row.status is S.RUNNING and row.claimed_by == heartbeat.processor_id:
                row.lease_expires_at = lease_until
                renewed += 1
        return renewed

    def remove_heartbeat(self, processor_id: str) -> None:
        self.db.check()
        self.db.heartbeats.pop(processor_id, None)

    def _running(self, run: StartedRun, processor_id: str) -> FakeRow | None:
        row = self.db.rows.get(run.message.schedule_id)
        mine = (
            row is not None
            and row.status is S.RUNNING
            and row.attempt == run.message.attempt
            and row.claimed_by == processor_id
        )
        return row if mine else None

    def _context(self, row: FakeRow) -> TaskContext:
        return TaskContext(
            schedule_id=row.id,
            task_id=row.task_id,
            task_type=row.task_type,
            attempt=row.attempt,
            max_attempts=self.db.max_attempts,
            timeout_s=self.db.timeout_s,
            payload={},
            config={},
        )
