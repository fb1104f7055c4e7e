"""Replay of dead-lettered tasks: the database row is the truth, the message its pointer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select

from engine.adapters.database import read_connection
from engine.adapters.run_store import reset_dead_row
from engine.adapters.tables import task_schedule, tasks
from engine.core.messages import MalformedMessage, decode_message
from engine.ports import Broker, DeadLetter


@dataclass
class ReplayReport:
    replayed: int = 0
    already_replayed: int = 0
    malformed: int = 0
    kept: int = 0
    not_dead: list[int] = field(default_factory=list)  # asked for, but neither dead letter nor Dead row


def replay_dead_letters(
    engine: Engine, broker: Broker, schedule_ids: set[int], limit: int, discard_malformed: bool = False
) -> ReplayReport:
    """For each dead letter (those of `schedule_ids` only, if given): reset its `Dead` row to
    `Scheduled` with a fresh retry budget and remove the message. The reset commits before
    the message is removed, so a crash in between leaves a message whose row is no longer
    `Dead`; replaying again removes it (`already_replayed`). Malformed messages stay unless
    `discard_malformed`.

    A row asked for by id whose dead letter was not among the first `limit` (the queue was
    purged, or the in-process broker of a stopped `headway up` forgot it) is reset all the
    same if it is `Dead`: the row, not the message, says the task died. Ids that are neither
    are listed in `not_dead`."""
    report = ReplayReport()
    seen: set[int] = set()

    def visit(letter: DeadLetter) -> bool:
        try:
            message = decode_message(letter.body)
        except MalformedMessage:
            report.malformed += 1
            return discard_malformed
        if schedule_ids and message.schedule_id not in schedule_ids:
            report.kept += 1
            return False
        seen.add(message.schedule_id)
        with engine.begin() as connection:
            reset = reset_dead_row(connection, message.schedule_id)
        if reset:
            report.replayed += 1
        else:
            report.already_replayed += 1
        return True

    broker.visit_dead_letters(visit, limit)
    for schedule_id in sorted(schedule_ids - seen):
        with engine.begin() as connection:
            reset = reset_dead_row(connection, schedule_id)
        if reset:
            report.replayed += 1
        else:
            report.not_dead.append(schedule_id)
    return report


@dataclass(frozen=True)
class DeadRow:
    schedule_id: int
    task_type: str
    attempt: int
    reason: str
    finished_at: datetime | None


def list_dead_rows(engine: Engine, limit: int) -> list[DeadRow]:
    """The `Dead` rows, oldest death first: what the dead-letter queue holds, read from the
    database. `headway up`'s in-process broker keeps its dead letters inside that process, so
    for it the rows are the only view another command has."""
    query = (
        select(
            task_schedule.c.id,
            tasks.c.task_type,
            task_schedule.c.attempt,
            task_schedule.c.last_error,
            task_schedule.c.finished_at,
        )
        .join(tasks, tasks.c.id == task_schedule.c.task_id)
        .where(task_schedule.c.status == "Dead")
        .order_by(task_schedule.c.finished_at, task_schedule.c.id)
        .limit(limit)
    )
    with read_connection(engine) as connection:
        return [DeadRow(row[0], row[1], row[2], row[3] or "", row[4]) for row in connection.execute(query)]
