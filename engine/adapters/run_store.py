"""The Processor's reads and writes: starting and finishing runs, heartbeats and leases.

Batched: a processor starts (and later finishes) every message it holds in one transaction,
so the database's commit rate does not cap the task rate. The state transitions are the
named queries `start_waiting_rows`, `set_running`, `finish_runs` (plus `record_runs` on
SQLite) and `give_back_runs` of `sql/<dialect>/queries.sql`, with the same parameters on both
dialects;
what a row becomes is decided in `engine.core` (`leases.decide_start`,
`retry.decide_after_failure`). Each status change names the status and attempt it expects
to replace and the returned ids show which rows it changed.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from engine.adapters.database import id_in, plan_for_values, update_unlocked
from engine.adapters.dependency_store import add_dependent_rows
from engine.adapters.sql_queries import bound_query, instant_text
from engine.adapters.tables import UTCDateTime, processor_heartbeats, task_schedule, task_types, tasks
from engine.core.dependencies import UpstreamOutcome
from engine.core.execution import TaskContext
from engine.core.leases import RowState, StartAction, StartDecision, decide_start, start_lag_ms
from engine.core.messages import TaskMessage
from engine.core.partitions import range_containing
from engine.core.runs import FinishedRun, Heartbeat, NotStarted, StartedRun
from engine.core.types import ScheduleStatus

RUNNING = ScheduleStatus.RUNNING.value
QUEUED = ScheduleStatus.QUEUED.value


def start_runs(
    connection: Connection,
    messages: Sequence[TaskMessage],
    processor_id: str,
    now: datetime,
    lease_until: datetime,
) -> tuple[list[StartedRun], NotStarted]:
    """Decide each message against its row (`engine.core.leases.decide_start`) and set the
    rows to START `Running` at `now`, leased to `processor_id`. Returns the runs to execute and,
    for every other message, what to do with it instead.

    The common case, a row waiting for exactly this attempt, is started by one statement for
    the whole batch (`start_waiting_rows`); only what it leaves (duplicates, take-overs, stale
    copies) is read and decided one by one."""
    plan_for_values(connection)
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
) -> tuple[list[StartedRun], NotStarted]:
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
            tasks.c.timeout_s,
            tasks.c.max_attempts,
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
        (
            message.schedule_id,
            decision.expected_status.value if decision.expected_status else "",
            states_attempt(decision, message),
            message.attempt,
            start_lag_ms(rows[message.schedule_id].scheduled_time, now),
        )
        for message, decision in to_start
    ]
    changed = _set_running(connection, changes, processor_id, now, lease_until)
    started: list[StartedRun] = []
    for message, _decision in to_start:
        if message.schedule_id not in changed:  # cannot happen under the row lock; be explicit
            others.append((message, StartDecision(StartAction.DROP, "row changed underneath")))
            continue
        row = rows[message.schedule_id]
        task = (row.task_id, row.task_type, row.payload, row.timeout_s, row.max_attempts, row.scheduled_time)
        started.append(_started_run(message, task, types, now))
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


# What a start reads of a row and its task, by position: task id, type, payload, timeout and
# attempt overrides, and the row's scheduled time (a burst builds thousands a batch, and
# reading a result row's seven fields by name cost about 2 us a run).
_StartedTask = tuple[int, str, Any, Any, Any, datetime]


def _started_run(
    message: TaskMessage, task: _StartedTask, types: dict[str, _TypeSettings], now: datetime
) -> StartedRun:
    """The run of a started row: the task's own timeout and attempt budget where it sets
    them, its type's otherwise."""
    task_id, task_type, payload, timeout_s, max_attempts, scheduled_time = task
    settings = types[task_type]
    context = TaskContext(
        schedule_id=message.schedule_id,
        task_id=int(task_id),
        task_type=task_type,
        attempt=message.attempt,
        max_attempts=settings.max_attempts if max_attempts is None else int(max_attempts),
        timeout_s=settings.timeout_ms / 1000 if timeout_s is None else float(timeout_s),
        payload=_json(payload),
        config=dict(settings.config),
    )
    return StartedRun(message, context, settings.handler, now, scheduled_time)


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
    times = [m.scheduled_time for m in first.values()]
    values = {
        "messages": json.dumps(batch),
        "now": now,
        "me": processor_id,
        "lease_until": lease_until,
        **week_span(times or [now]),
    }
    query = bound_query(connection, "start_waiting_rows")
    # SQLite hands the instant back as text; PostgreSQL's driver gives an aware datetime
    # already, which needs no conversion row by row.
    typed: Executable = (
        query.columns(scheduled_time=UTCDateTime()) if connection.dialect.name == "sqlite" else query
    )
    rows = connection.execute(typed, values).all()
    types = _type_settings(connection, {row[3] for row in rows})  # task_type
    started = [
        _started_run(
            first.pop(row_id),
            (task_id, task_type, payload, timeout_s, max_attempts, scheduled_time),
            types,
            now,
        )
        for row_id, task_id, scheduled_time, task_type, payload, timeout_s, max_attempts in rows
    ]
    return started, [*first.values(), *rest]


def week_span(times: Collection[datetime]) -> dict[str, datetime]:
    """`time_from` and `time_to`: the whole weeks (PostgreSQL's partitions, 0011) from the one
    holding the earliest of `times` to the one holding the latest, end excluded. Whole weeks
    name the partitions to read without telling the planner that a batch shares one instant,
    which it would read through the time index (see start_waiting_rows)."""
    return {"time_from": range_containing(min(times)).start, "time_to": range_containing(max(times)).end}


def states_attempt(decision: StartDecision, message: TaskMessage) -> int:
    """The attempt count a START expects to find: the previous one, or the same one when
    taking over a `Running` row."""
    return message.attempt if decision.expected_status is ScheduleStatus.RUNNING else message.attempt - 1


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # SQLite hands JSON back as text when read through a join
        value = json.loads(value)
    return dict(value or {})


def _set_running(
    connection: Connection,
    changes: list[tuple[int, str, int, int, int]],
    processor_id: str,
    now: datetime,
    lease_until: datetime,
) -> set[int]:
    """`set_running` for (id, expected status, expected attempt, attempt, lag_ms) changes."""
    if not changes:
        return set()
    values = {"changes": json.dumps(changes), "now": now, "me": processor_id, "lease_until": lease_until}
    return {int(row[0]) for row in connection.execute(bound_query(connection, "set_running"), values)}


def finish_runs(connection: Connection, finished: Sequence[FinishedRun], processor_id: str) -> set[int]:
    """Record outcomes: each row goes from `Running` at its attempt, leased to
    `processor_id`, to its new status, and gets its `task_runs` row (`finish_runs`, and on
    SQLite `record_runs`). Returns the schedule ids whose status changed. A row missing from it was
    taken over by another processor after this one lost its lease (that one records the
    attempt), or was recorded already by a commit whose acknowledgement was lost; either way
    nothing is written twice. The outcomes that end a run also give the tasks that run after
    it their rows, in the same transaction (`engine.adapters.dependency_store`)."""
    if not finished:
        return set()
    dialect = connection.dialect.name
    rows = _run_rows(finished, dialect)
    values = {"me": processor_id, "rows": json.dumps(rows)}
    changed = {int(row[0]) for row in connection.execute(bound_query(connection, "finish_runs"), values)}
    recorded = [row for row in rows if row[0] in changed]
    # PostgreSQL's finish_runs inserts them too (a data-modifying CTE); SQLite has none.
    if recorded and dialect == "sqlite":
        connection.execute(bound_query(connection, "record_runs"), {"rows": json.dumps(recorded)})
    add_dependent_rows(
        connection,
        [
            UpstreamOutcome(
                f.run.message.schedule_id,
                f.run.context.task_id,
                f.status,
                f.finished_at,
                retry_pending=f.next_attempt_at is not None,
            )
            for f in finished
            if f.run.message.schedule_id in changed
        ],
    )
    return changed


def _run_rows(finished: Sequence[FinishedRun], dialect: str) -> list[tuple[Any, ...]]:
    """The outcomes as `finish_runs` and `record_runs` read them, by position. A batch shares
    few instants (its finish, its starts, a burst's scheduled time): each is formatted once."""
    texts: dict[datetime, str | None] = {}

    def text_of(value: datetime | None) -> str | None:
        if value is None:
            return None
        text = texts.get(value)
        if text is None:
            text = texts[value] = instant_text(value, dialect)
        return text

    return [
        (
            f.run.message.schedule_id,
            f.run.message.attempt,
            f.status.value,
            text_of(f.finished_at),
            f.error,
            text_of(f.next_attempt_at),
            f.run.context.task_id,
            f.run.context.task_type,
            text_of(f.run.started_at),
            f.elapsed_ms,
            f.outcome,
            f.output_excerpt,
            text_of(f.run.scheduled_time),
        )
        for f in finished
    ]


def give_back_runs(
    connection: Connection, runs: Sequence[StartedRun], processor_id: str, now: datetime
) -> int:
    """A stopping processor gives runs back unfinished: `Running` -> `Queued` at the previous
    attempt count, so the requeued message starts them again under the same attempt. Queued
    anew at `now`: the reconciliation counts its patience from there."""
    if not runs:
        return 0
    batch = json.dumps([(run.message.schedule_id, run.message.attempt) for run in runs])
    values = {"runs": batch, "me": processor_id, "now": now}
    return len(connection.execute(bound_query(connection, "give_back_runs"), values).all())


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
    (`Scheduled`, `Queued`, or `Failed` with a retry pending) is changed; False otherwise.
    Its run has ended: the tasks waiting `on: finished` for it are triggered."""
    buried = connection.execute(
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
        .returning(task_schedule.c.task_id)
    ).first()
    if buried is None:
        return False
    add_dependent_rows(
        connection, [UpstreamOutcome(schedule_id, int(buried.task_id), ScheduleStatus.DEAD, now)]
    )
    return True
