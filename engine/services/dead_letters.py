"""Replay and discard of dead-lettered tasks: the database row is the truth, the message its
pointer. The CLI (`headway dlq`), the API (`/dead-letters`) and the dashboard all call here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from sqlalchemy import ColumnElement, Connection, Engine, func, select

from engine.adapters.database import read_connection
from engine.adapters.run_store import discard_dead_row, reset_dead_row
from engine.adapters.tables import task_schedule, tasks
from engine.core.messages import MalformedMessage, decode_message
from engine.core.types import ScheduleStatus
from engine.ports import Broker, DeadLetter

# What is done to one live dead letter's row, in its own transaction; False: it was not one.
RowAction = Callable[[Connection, int], bool]


@dataclass
class ReplayReport:
    replayed: int = 0
    already_replayed: int = 0
    malformed: int = 0
    kept: int = 0
    not_dead: list[int] = field(default_factory=list)  # asked for, but neither dead letter nor Dead row
    discarded: list[int] = field(default_factory=list)  # asked for, but discarded: never replayed


@dataclass
class DiscardReport:
    discarded: int = 0
    stale: int = 0  # messages removed whose row was no longer a dead letter (replayed or discarded)
    malformed: int = 0
    kept: int = 0
    not_dead: list[int] = field(default_factory=list)  # asked for, but not a live dead letter


@dataclass
class _Tally:
    done: int = 0
    stale: int = 0
    malformed: int = 0
    kept: int = 0
    refused: list[int] = field(default_factory=list)


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
    same if it is `Dead`: the row, not the message, says the task died. A discarded row is
    never reset (listed in `discarded`); ids that are neither are listed in `not_dead`."""
    tally = _act_on_dead_letters(engine, broker, schedule_ids, limit, discard_malformed, reset_dead_row)
    states = dead_letter_states(engine, tally.refused)
    return ReplayReport(
        replayed=tally.done,
        already_replayed=tally.stale,
        malformed=tally.malformed,
        kept=tally.kept,
        not_dead=[i for i in tally.refused if states.get(i) is not DeadLetterState.DISCARDED],
        discarded=[i for i in tally.refused if states.get(i) is DeadLetterState.DISCARDED],
    )


def discard_dead_letters(
    engine: Engine,
    broker: Broker,
    schedule_ids: set[int],
    limit: int,
    now: datetime,
    discard_malformed: bool = False,
) -> DiscardReport:
    """For each dead letter (those of `schedule_ids` only, if given): mark its `Dead` row
    discarded at `now` and remove the message. The row keeps its status and history but is
    no longer listed as a dead letter nor replayable. As for replay, the row commits before
    the message goes (a message whose row is no longer a live dead letter is removed as
    `stale`), a named `Dead` row without a message is discarded all the same, and named ids
    that are not live dead letters are listed in `not_dead`."""

    def discard(connection: Connection, schedule_id: int) -> bool:
        return discard_dead_row(connection, schedule_id, now)

    tally = _act_on_dead_letters(engine, broker, schedule_ids, limit, discard_malformed, discard)
    return DiscardReport(tally.done, tally.stale, tally.malformed, tally.kept, tally.refused)


def _act_on_dead_letters(
    engine: Engine,
    broker: Broker,
    schedule_ids: set[int],
    limit: int,
    discard_malformed: bool,
    act: RowAction,
) -> _Tally:
    tally = _Tally()
    seen: set[int] = set()

    def visit(letter: DeadLetter) -> bool:
        try:
            message = decode_message(letter.body)
        except MalformedMessage:
            tally.malformed += 1
            return discard_malformed
        if schedule_ids and message.schedule_id not in schedule_ids:
            tally.kept += 1
            return False
        seen.add(message.schedule_id)
        with engine.begin() as connection:
            if act(connection, message.schedule_id):
                tally.done += 1
            else:
                tally.stale += 1
        return True

    broker.visit_dead_letters(visit, limit)
    for schedule_id in sorted(schedule_ids - seen):
        with engine.begin() as connection:
            if act(connection, schedule_id):
                tally.done += 1
            else:
                tally.refused.append(schedule_id)
    return tally


class DeadLetterState(Enum):
    """What a schedule row is to the dead-letter commands."""

    DEAD = "dead"  # a live dead letter: replayable, discardable
    DISCARDED = "discarded"
    NOT_DEAD = "not dead"  # any other status


def dead_letter_states(engine: Engine, schedule_ids: Iterable[int]) -> dict[int, DeadLetterState]:
    """The state of each row of `schedule_ids` that exists (unknown ids are left out), so that
    callers can refuse a request before changing anything."""
    wanted = sorted(set(schedule_ids))
    states: dict[int, DeadLetterState] = {}
    if not wanted:
        return states
    query = select(task_schedule.c.id, task_schedule.c.status, task_schedule.c.discarded_at).where(
        task_schedule.c.id.in_(wanted)
    )
    with read_connection(engine) as connection:
        for schedule_id, status, discarded_at in connection.execute(query):
            if status != ScheduleStatus.DEAD.value:
                states[schedule_id] = DeadLetterState.NOT_DEAD
            elif discarded_at is not None:
                states[schedule_id] = DeadLetterState.DISCARDED
            else:
                states[schedule_id] = DeadLetterState.DEAD
    return states


class DeadLetterNotFound(LookupError):
    """Some ids name no schedule row at all."""


class NotADeadLetter(ValueError):
    """Some ids name rows that are not live dead letters (another status, or discarded)."""


def check_dead_letters(engine: Engine, schedule_ids: Iterable[int]) -> None:
    """Refuse, before anything changes, a request naming a row that does not exist
    (`DeadLetterNotFound`) or that is no live dead letter (`NotADeadLetter`); the message
    names every such row. A row may still change between this check and the action: the
    action's report says so."""
    wanted = set(schedule_ids)
    states = dead_letter_states(engine, wanted)
    unknown = sorted(wanted - set(states))
    if unknown:
        raise DeadLetterNotFound(f"no schedule row {', '.join(map(str, unknown))}")
    refused = [
        f"row {i} ({states[i].value})" for i in sorted(states) if states[i] is not DeadLetterState.DEAD
    ]
    if refused:
        raise NotADeadLetter(f"not a dead letter: {', '.join(refused)}")


@dataclass(frozen=True)
class DeadRow:
    schedule_id: int
    task_type: str
    attempt: int
    reason: str
    finished_at: datetime | None
    discarded_at: datetime | None = None


def list_dead_rows(engine: Engine, limit: int, discarded: bool = False) -> list[DeadRow]:
    """The live dead letters' `Dead` rows, oldest death first: what the dead-letter queue
    holds, read from the database. `headway up`'s in-process broker keeps its dead letters
    inside that process, so for it the rows are the only view another command has.

    `discarded`: the discarded ones instead, latest discarded first. Each list is read
    through its own partial index (`task_schedule_dead`, `task_schedule_discarded`)."""
    schedule = task_schedule.c
    query = (
        select(schedule.id, tasks.c.task_type, schedule.attempt, schedule.last_error, schedule.finished_at)
        .add_columns(schedule.discarded_at)
        .join(tasks, tasks.c.id == schedule.task_id)
        .where(schedule.status == ScheduleStatus.DEAD.value, _discarded(discarded))
        .order_by(
            *(
                (schedule.discarded_at.desc(), schedule.id.desc())
                if discarded
                else (schedule.finished_at, schedule.id)
            )
        )
        .limit(limit)
    )
    with read_connection(engine) as connection:
        return [
            DeadRow(row[0], row[1], row[2], row[3] or "", row[4], row[5]) for row in connection.execute(query)
        ]


def count_dead_rows(engine: Engine, discarded: bool = False) -> int:
    """How many rows `list_dead_rows` would give without a limit."""
    query = (
        select(func.count())
        .select_from(task_schedule)
        .where(task_schedule.c.status == ScheduleStatus.DEAD.value, _discarded(discarded))
    )
    with read_connection(engine) as connection:
        return int(connection.execute(query).scalar_one())


def _discarded(discarded: bool) -> ColumnElement[bool]:
    column = task_schedule.c.discarded_at
    return column.is_not(None) if discarded else column.is_(None)
