"""The Processor's reads and writes: starting and finishing runs, heartbeats and leases.

Batched: a processor starts (and later finishes) every message it holds in one transaction,
so the database's commit rate does not cap the task rate. Each status change names the
status and attempt it expects to replace and the returned ids show which rows it changed.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from engine.adapters.database import id_in, update_unlocked
from engine.adapters.tables import processor_heartbeats, task_runs, task_schedule, task_types, tasks
from engine.core.execution import TaskContext
from engine.core.leases import RowState, StartAction, StartDecision, decide_start
from engine.core.messages import TaskMessage
from engine.core.types import ScheduleStatus

RUNNING = ScheduleStatus.RUNNING.value
QUEUED = ScheduleStatus.QUEUED.value


@dataclass(frozen=True, slots=True)
class StartedRun:
    message: TaskMessage
    context: TaskContext
    handler: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """The outcome of one attempt, as recorded. `status` is Succeeded, Failed or Dead;
    `next_attempt_at` is set for a Failed row whose retry is on its way."""

    run: StartedRun
    status: ScheduleStatus
    finished_at: datetime
    elapsed_ms: int
    outcome: str
    output_excerpt: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


def start_runs(
    connection: Connection,
    messages: Sequence[TaskMessage],
    processor_id: str,
    now: datetime,
    lease_until: datetime,
) -> tuple[list[StartedRun], list[tuple[TaskMessage, StartDecision]]]:
    """Decide each message against its row (`engine.core.leases.decide_start`) and set the
    rows to START `Running` at `now`, leased to `processor_id`. Returns the runs to execute and,
    for every other message, what to do with it instead.

    On PostgreSQL the common case, a row waiting for exactly this attempt, is started by one
    statement for the whole batch (`_start_waiting_rows`); only what it leaves (duplicates,
    take-overs, stale copies) is read and decided one by one."""
    started: list[StartedRun] = []
    if connection.dialect.name == "postgresql":
        started, messages = _start_waiting_rows(connection, messages, processor_id, now, lease_until)
    if not messages:
        return started, []
    more, others = _start_decided(connection, messages, processor_id, now, lease_until)
    return started + more, others


def _start_decided(
    connection: Connection,
    messages: Sequence[TaskMessage],
    processor_id: str,
    now: datetime,
    lease_until: datetime,
) -> tuple[list[StartedRun], list[tuple[TaskMessage, StartDecision]]]:
    """Read each message's row, decide, and start the rows decided START."""
    ids = sorted({m.schedule_id for m in messages})
    query = (
        select(
            task_schedule.c.id,
            task_schedule.c.status,
            task_schedule.c.attempt,
            task_schedule.c.lease_expires_at,
            task_schedule.c.next_attempt_at,
            task_schedule.c.scheduled_time,
            task_schedule.c.start_lag_ms,
            tasks.c.id.label("task_id"),
            tasks.c.payload,
            tasks.c.task_type,
        )
        .join(tasks, tasks.c.id == task_schedule.c.task_id)
        .where(id_in(task_schedule.c.id, ids, connection))
        .order_by(task_schedule.c.id)
    )
    if connection.dialect.name == "postgresql":
        # Lock in id order so processors starting overlapping batches cannot deadlock.
        query = query.with_for_update(of=task_schedule)
    rows = {row.id: row for row in connection.execute(query)}
    types = _type_settings(connection, {row.task_type for row in rows.values()})
    states = {
        row.id: RowState(ScheduleStatus(row.status), row.attempt, row.lease_expires_at, row.next_attempt_at)
        for row in rows.values()
    }
    to_start: list[tuple[TaskMessage, StartDecision]] = []
    others: list[tuple[TaskMessage, StartDecision]] = []
    for message in messages:
        decision = decide_start(states.get(message.schedule_id), message.attempt, now)
        if decision.action is StartAction.START:
            to_start.append((message, decision))
            # A second copy of the same row in this batch must see it running.
            states[message.schedule_id] = RowState(ScheduleStatus.RUNNING, message.attempt, lease_until, None)
        else:
            others.append((message, decision))
    changes = [
        {
            "id": message.schedule_id,
            "expected_status": decision.expected_status.value if decision.expected_status else "",
            "expected_attempt": states_attempt(decision, message),
            "attempt": message.attempt,
            "lag_ms": _lag_ms(rows[message.schedule_id].scheduled_time, now),
        }
        for message, decision in to_start
    ]
    changed = _set_running(connection, changes, processor_id, now, lease_until)
    started: list[StartedRun] = []
    for message, _decision in to_start:
        if message.schedule_id not in changed:  # cannot happen under the row lock; be explicit
            others.append((message, StartDecision(StartAction.DROP, "row changed underneath")))
            continue
        row = rows[message.schedule_id]
        started.append(_started_run(message, int(row.task_id), row.task_type, row.payload, types, now))
    return started, others


@dataclass(frozen=True, slots=True)
class _TypeSettings:
    handler: str
    timeout_ms: int
    max_attempts: int
    config: dict[str, Any]


def _type_settings(connection: Connection, names: Collection[str]) -> dict[str, _TypeSettings]:
    """A batch holds few types: read each type's settings (and parse its config) once."""
    if not names:
        return {}
    query = select(
        task_types.c.name,
        task_types.c.handler,
        task_types.c.timeout_ms,
        task_types.c.max_attempts,
        task_types.c.config,
    ).where(task_types.c.name.in_(sorted(names)))
    return {
        row.name: _TypeSettings(row.handler, int(row.timeout_ms), int(row.max_attempts), _json(row.config))
        for row in connection.execute(query)
    }


def _started_run(
    message: TaskMessage,
    task_id: int,
    task_type: str,
    payload: Any,
    types: dict[str, _TypeSettings],
    now: datetime,
) -> StartedRun:
    settings = types[task_type]
    context = TaskContext(
        schedule_id=message.schedule_id,
        task_id=task_id,
        task_type=task_type,
        attempt=message.attempt,
        max_attempts=settings.max_attempts,
        timeout_s=settings.timeout_ms / 1000,
        payload=_json(payload),
        config=dict(settings.config),
    )
    return StartedRun(message, context, settings.handler, now)


# Rows waiting for exactly the message's attempt (decide_start's normal START) become
# Running in one statement, their task's payload and type returned with them. The ids are
# also given as an array (`= ANY`) so that the planner looks them up by primary key: joined
# to the JSON alone, whose size it cannot know, it chose to scan the whole table. The rows are
# taken in id order, the lock order every processor uses. A row another transaction holds
# is waited for, as the decided path's FOR UPDATE would.
_START_WAITING = text(
    "WITH m AS ("
    " SELECT CAST(e->>0 AS BIGINT) AS id, CAST(e->>1 AS INT) AS attempt"
    " FROM json_array_elements(CAST(:messages AS JSON)) AS e"
    "), waiting AS ("
    " SELECT t.id, m.attempt FROM task_schedule t JOIN m ON t.id = m.id"
    " WHERE t.id = ANY(ARRAY(SELECT id FROM m)) AND t.attempt = m.attempt - 1"
    " AND (t.status IN ('Scheduled', 'Queued') OR (t.status = 'Failed' AND t.next_attempt_at IS NOT NULL))"
    " ORDER BY t.id FOR UPDATE OF t"
    "), started AS ("
    " UPDATE task_schedule t SET status = 'Running', attempt = w.attempt, started_at = :now,"
    " finished_at = NULL, claimed_by = :me, lease_expires_at = :lease, next_attempt_at = NULL,"
    " start_lag_ms = COALESCE(t.start_lag_ms,"
    "  GREATEST(0, FLOOR(EXTRACT(EPOCH FROM (CAST(:now AS TIMESTAMPTZ) - t.scheduled_time)) * 1000))::INT)"
    " FROM waiting w WHERE t.id = w.id"
    " AND t.attempt = w.attempt - 1"
    " AND (t.status IN ('Scheduled', 'Queued') OR (t.status = 'Failed' AND t.next_attempt_at IS NOT NULL))"
    " RETURNING t.id, t.task_id"
    ") SELECT s.id, s.task_id, k.task_type, k.payload FROM started s JOIN tasks k ON k.id = s.task_id"
)


def _start_waiting_rows(
    connection: Connection,
    messages: Sequence[TaskMessage],
    processor_id: str,
    now: datetime,
    lease_until: datetime,
) -> tuple[list[StartedRun], list[TaskMessage]]:
    """Start, in one statement, every row that waits for its message's attempt. Returns the
    runs and the messages left for the decided path: a second copy of a row in this batch
    (it then finds the row Running here and defers), and every row in another state."""
    first: dict[int, TaskMessage] = {}
    rest: list[TaskMessage] = []
    for message in messages:
        if message.schedule_id in first:
            rest.append(message)
        else:
            first[message.schedule_id] = message
    batch = [(m.schedule_id, m.attempt) for m in first.values()]
    rows = connection.execute(
        _START_WAITING,
        {"messages": json.dumps(batch), "now": now, "me": processor_id, "lease": lease_until},
    ).all()
    types = _type_settings(connection, {row.task_type for row in rows})
    started = [
        _started_run(first.pop(int(row.id)), int(row.task_id), row.task_type, row.payload, types, now)
        for row in rows
    ]
    return started, [*first.values(), *rest]


def states_attempt(decision: StartDecision, message: TaskMessage) -> int:
    """The attempt count a START expects to find: the previous one, or the same one when
    taking over a `Running` row."""
    return message.attempt if decision.expected_status is ScheduleStatus.RUNNING else message.attempt - 1


def _lag_ms(scheduled_time: datetime, now: datetime) -> int:
    return max(0, int((now - scheduled_time).total_seconds() * 1000))


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # SQLite hands JSON back as text when read through a join
        value = json.loads(value)
    return dict(value or {})


def _set_running(
    connection: Connection,
    changes: list[dict[str, Any]],
    processor_id: str,
    now: datetime,
    lease_until: datetime,
) -> set[int]:
    if not changes:
        return set()
    if connection.dialect.name == "postgresql":
        result = connection.execute(
            text(
                "UPDATE task_schedule t SET status = 'Running', attempt = m.attempt, started_at = :now, "
                "finished_at = NULL, claimed_by = :me, lease_expires_at = :lease, next_attempt_at = NULL, "
                "start_lag_ms = COALESCE(t.start_lag_ms, m.lag_ms) "
                "FROM json_to_recordset(CAST(:changes AS JSON)) AS m(id BIGINT, expected_status TEXT, "
                "expected_attempt INT, attempt INT, lag_ms INT) "
                "WHERE t.id = m.id AND t.status = m.expected_status AND t.attempt = m.expected_attempt "
                "RETURNING t.id"
            ),
            {"now": now, "me": processor_id, "lease": lease_until, "changes": json.dumps(changes)},
        )
        return {int(row[0]) for row in result}
    changed: set[int] = set()
    for change in changes:
        result = connection.execute(
            update(task_schedule)
            .where(
                task_schedule.c.id == change["id"],
                task_schedule.c.status == change["expected_status"],
                task_schedule.c.attempt == change["expected_attempt"],
            )
            .values(
                status=RUNNING,
                attempt=change["attempt"],
                started_at=now,
                finished_at=None,
                claimed_by=processor_id,
                lease_expires_at=lease_until,
                next_attempt_at=None,
                start_lag_ms=func.coalesce(task_schedule.c.start_lag_ms, change["lag_ms"]),
            )
        )
        if result.rowcount == 1:
            changed.add(change["id"])
    return changed


def finish_runs(connection: Connection, finished: Sequence[FinishedRun], processor_id: str) -> set[int]:
    """Record outcomes: each row goes from `Running` at its attempt, leased to
    `processor_id`, to its new status, and gets its `task_runs` row. Returns the schedule ids
    whose status changed. A row missing from it was taken over by another processor after
    this one lost its lease (that one records the attempt), or was recorded already by a
    commit whose acknowledgement was lost; either way nothing is written twice."""
    if not finished:
        return set()
    if connection.dialect.name == "postgresql":
        return _finish_postgresql(connection, finished, processor_id)
    changed: set[int] = set()
    for f in finished:
        result = connection.execute(
            update(task_schedule)
            .where(
                task_schedule.c.id == f.run.message.schedule_id,
                task_schedule.c.status == RUNNING,
                task_schedule.c.attempt == f.run.message.attempt,
                task_schedule.c.claimed_by == processor_id,
            )
            .values(
                status=f.status.value,
                finished_at=f.finished_at,
                last_error=f.error,
                next_attempt_at=f.next_attempt_at,
                lease_expires_at=None,
            )
        )
        if result.rowcount == 1:
            changed.add(f.run.message.schedule_id)
    recorded = [_run_values(f) for f in finished if f.run.message.schedule_id in changed]
    if recorded:
        connection.execute(insert(task_runs), recorded)
    return changed


def _run_values(f: FinishedRun) -> dict[str, Any]:
    return {
        "schedule_id": f.run.message.schedule_id,
        "task_id": f.run.context.task_id,
        "task_type": f.run.context.task_type,
        "attempt": f.run.message.attempt,
        "started_at": f.run.started_at,
        "finished_at": f.finished_at,
        "elapsed_ms": f.elapsed_ms,
        "outcome": f.outcome,
        "output_excerpt": f.output_excerpt,
        "error": f.error,
    }


def _finish_postgresql(
    connection: Connection, finished: Sequence[FinishedRun], processor_id: str
) -> set[int]:
    # One statement for the whole batch: the status changes and the task_runs rows. The batch
    # travels as one JSON array of arrays: json.dumps is C, where a dozen parameter arrays
    # cost the driver 20 us a row in Python, and reading fields by position costs the server
    # a tenth of matching them by name (json_to_recordset).
    rows = [
        (
            f.run.message.schedule_id,
            f.run.message.attempt,
            f.status.value,
            f.finished_at.isoformat(),
            f.error,
            f.next_attempt_at.isoformat() if f.next_attempt_at else None,
            f.run.context.task_id,
            f.run.context.task_type,
            f.run.started_at.isoformat(),
            f.elapsed_ms,
            f.outcome,
            f.output_excerpt,
        )
        for f in finished
    ]
    result = connection.execute(_FINISH, {"me": processor_id, "rows": json.dumps(rows)})
    return {int(row[0]) for row in result}


_FINISH = text(
    "WITH m AS MATERIALIZED ("
    " SELECT CAST(e->>0 AS BIGINT) AS id, CAST(e->>1 AS INT) AS attempt, e->>2 AS status,"
    " CAST(e->>3 AS TIMESTAMPTZ) AS finished_at, e->>4 AS error,"
    " CAST(e->>5 AS TIMESTAMPTZ) AS next_attempt_at, CAST(e->>6 AS BIGINT) AS task_id,"
    " e->>7 AS task_type, CAST(e->>8 AS TIMESTAMPTZ) AS started_at, CAST(e->>9 AS INT) AS elapsed_ms,"
    " e->>10 AS outcome, e->>11 AS output_excerpt"
    " FROM json_array_elements(CAST(:rows AS JSON)) AS e"
    "), changed AS ("
    " UPDATE task_schedule t SET status = m.status, finished_at = m.finished_at,"
    " last_error = m.error,"
    " next_attempt_at = m.next_attempt_at, lease_expires_at = NULL"
    " FROM m WHERE t.id = ANY(ARRAY(SELECT id FROM m)) AND t.id = m.id"
    " AND t.status = 'Running' AND t.attempt = m.attempt"
    " AND t.claimed_by = :me RETURNING t.id"
    "), recorded AS ("
    " INSERT INTO task_runs (schedule_id, task_id, task_type, attempt, started_at, finished_at,"
    " elapsed_ms, outcome, output_excerpt, error)"
    " SELECT m.id, task_id, task_type, attempt, started_at, finished_at, elapsed_ms, outcome,"
    " output_excerpt, error FROM m JOIN changed ON changed.id = m.id"
    ") SELECT id FROM changed"
)


def requeue_runs(connection: Connection, runs: Sequence[StartedRun], processor_id: str, now: datetime) -> int:
    """A stopping processor gives runs back unfinished: `Running` -> `Queued` at the previous
    attempt count, so the requeued message starts them again under the same attempt. Queued
    anew at `now`: the reconciliation counts its patience from there."""
    count = 0
    for run in sorted(runs, key=lambda r: r.message.schedule_id):  # the global lock order
        result = connection.execute(
            update(task_schedule)
            .where(
                task_schedule.c.id == run.message.schedule_id,
                task_schedule.c.status == RUNNING,
                task_schedule.c.attempt == run.message.attempt,
                task_schedule.c.claimed_by == processor_id,
            )
            .values(
                status=QUEUED,
                attempt=run.message.attempt - 1,
                claimed_by=None,
                lease_expires_at=None,
                queued_at=now,
            )
        )
        count += int(result.rowcount)
    return count


@dataclass(frozen=True, slots=True)
class Heartbeat:
    processor_id: str
    hostname: str
    pid: int
    concurrency: int
    started_at: datetime


def record_heartbeat(
    connection: Connection, heartbeat: Heartbeat, now: datetime, forget_before: datetime
) -> None:
    """Upsert this processor's heartbeat and forget processors not seen since `forget_before`
    (killed ones never remove their row)."""
    upsert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = upsert(processor_heartbeats).values(
        processor_id=heartbeat.processor_id,
        hostname=heartbeat.hostname,
        pid=heartbeat.pid,
        concurrency=heartbeat.concurrency,
        started_at=heartbeat.started_at,
        last_seen_at=now,
    )
    connection.execute(
        statement.on_conflict_do_update(index_elements=["processor_id"], set_={"last_seen_at": now})
    )
    connection.execute(
        delete(processor_heartbeats).where(processor_heartbeats.c.last_seen_at < forget_before)
    )


def renew_leases(
    connection: Connection, processor_id: str, schedule_ids: Collection[int], lease_until: datetime
) -> int:
    """Extend the lease on the rows this processor is running right now, named by id: a row
    left `Running` under its name that it no longer runs (a start whose commit it did not see
    confirmed, say) must lapse, so that the row's message can take it over. Returns how many
    leases were renewed."""
    if not schedule_ids:
        return 0
    mine = [
        id_in(task_schedule.c.id, schedule_ids, connection),
        task_schedule.c.claimed_by == processor_id,
        task_schedule.c.status == RUNNING,
    ]
    # A row the coordinator holds is being finished right now: skip it rather than wait.
    return update_unlocked(connection, task_schedule, mine, {"lease_expires_at": lease_until})


def remove_heartbeat(connection: Connection, processor_id: str) -> None:
    connection.execute(
        delete(processor_heartbeats).where(processor_heartbeats.c.processor_id == processor_id)
    )


def reset_dead_row(connection: Connection, schedule_id: int) -> bool:
    """Replay: a `Dead` row goes back to `Scheduled` with a fresh retry budget; its time is past,
    so it is due at once.
    False if the row is not a live dead letter (already replayed, discarded, or never died)."""
    result = connection.execute(
        update(task_schedule)
        .where(
            task_schedule.c.id == schedule_id,
            task_schedule.c.status == ScheduleStatus.DEAD.value,
            task_schedule.c.discarded_at.is_(None),
        )
        .values(
            status=ScheduleStatus.SCHEDULED.value,
            attempt=0,
            claimed_by=None,
            lease_expires_at=None,
            queued_at=None,
            started_at=None,
            finished_at=None,
            next_attempt_at=None,
        )
    )
    return result.rowcount == 1


def discard_dead_row(connection: Connection, schedule_id: int, now: datetime) -> bool:
    """Discard: a `Dead` row stays `Dead`, as history, but is marked discarded at `now`, so it
    is no longer listed or replayable. False if the row is not a live dead letter."""
    result = connection.execute(
        update(task_schedule)
        .where(
            task_schedule.c.id == schedule_id,
            task_schedule.c.status == ScheduleStatus.DEAD.value,
            task_schedule.c.discarded_at.is_(None),
        )
        .values(discarded_at=now)
    )
    return result.rowcount == 1


def bury_unstartable(connection: Connection, schedule_id: int, reason: str, now: datetime) -> bool:
    """A row whose start the database refuses can never run: `Dead` with `reason`, so that
    nothing drives it again until someone replays its dead letter. Only a row waiting to start
    (`Scheduled`, `Queued`, or `Failed` with a retry pending) is changed; False otherwise."""
    result = connection.execute(
        update(task_schedule)
        .where(
            task_schedule.c.id == schedule_id,
            task_schedule.c.status.in_([ScheduleStatus.SCHEDULED.value, QUEUED, ScheduleStatus.FAILED.value]),
        )
        .values(
            status=ScheduleStatus.DEAD.value,
            last_error=reason,
            finished_at=now,
            claimed_by=None,
            lease_expires_at=None,
            next_attempt_at=None,
        )
    )
    return result.rowcount == 1
