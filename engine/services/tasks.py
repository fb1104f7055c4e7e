"""Create, edit, inactivate, run now and list tasks: the one place the API, the CLI and the
dashboard change tasks. Every function runs in one transaction and takes `now` as input."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, and_, delete, func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping

from engine.adapters.database import read_connection
from engine.adapters.schedule_store import uses_policies
from engine.adapters.tables import task_schedule, task_types, tasks
from engine.core.cron import CronSchedule
from engine.core.dependencies import DependencyTrigger, dependency_cycle
from engine.core.next_runs import next_run, upcoming_runs
from engine.core.policies import MisfirePolicy, OverlapPolicy
from engine.core.types import ScheduleStatus, TaskKind
from engine.services.schemas import FieldProblem, TaskInput, check_run_at_in_future
from engine.services.validation import field_problems

MAX_PAGE_SIZE = 500
# A task's last outcome is looked for in the schedule rows of this window before `now` first,
# then (none there) in the older history, by a second read for those tasks alone. On
# PostgreSQL the page's read then plans and touches the partitions of the last day only,
# whatever the history kept: a merge of partitions ordered by time reads the top row of each,
# so a window of 7 days, which spans two weeks' partitions, read one more row per task.
LAST_OUTCOME_RECENT = timedelta(days=1)


class TaskNotFound(LookupError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


class TaskInactive(RuntimeError):
    """An inactive task cannot be run now: nothing of it is scheduled until it is active."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} is inactive; make it active to run it")
        self.task_id = task_id


@dataclass(frozen=True, slots=True)
class TaskAfter:
    """An `after` task's upstream: a run of `task_id` ending as `on` says triggers it."""

    task_id: int
    on: DependencyTrigger


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    name: str
    task_type: str
    kind: TaskKind
    cron_expression: str | None
    timezone: str | None
    run_at: datetime | None
    payload: dict[str, Any]
    active: bool
    created_at: datetime
    updated_at: datetime
    # As of the instant the task was read with (see `engine.core.next_runs.next_run`); before
    # it, the run is overdue. Read without an instant: the earliest pending schedule row.
    next_run: datetime | None = None
    last_run_status: str | None = None
    last_run_at: datetime | None = None
    overlap_policy: OverlapPolicy = OverlapPolicy.ALLOW
    misfire_policy: MisfirePolicy = MisfirePolicy.RUN_ALL
    misfire_grace_s: int | None = None
    timeout_s: int | None = None  # None: the task type's timeout
    max_attempts: int | None = None  # None: the task type's attempt budget
    ordering_key: str | None = None
    after: TaskAfter | None = None
    # What keeps a dependency from firing, as read with the task on its own (get, create,
    # edit, inactivate): an upstream inactive or deleted, or active dependents of an inactive
    # task. Lists leave it empty.
    warnings: tuple[str, ...] = ()
    # The `after` tasks that follow this one's runs, active or not (read with the task alone).
    dependents: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskPage:
    items: list[Task]
    total: int


@dataclass(frozen=True, slots=True)
class TaskFilter:
    task_type: str | None = None
    kind: TaskKind | None = None
    active: bool | None = None
    name_contains: str | None = None
    # The status of the latest finished schedule row (Succeeded, Failed, Dead), or NO_RUN_YET.
    last_outcome: str | None = None


NO_RUN_YET = "none"
DEFAULT_POLICIES = {"overlap_policy": "allow", "misfire_policy": "run_all", "misfire_grace_s": None}
# Statuses of a row whose run has not ended (as has a Failed row with a retry pending).
IN_FLIGHT = [ScheduleStatus.QUEUED.value, ScheduleStatus.RUNNING.value]


def _values(spec: TaskInput) -> dict[str, Any]:
    return {
        "name": spec.name,
        "task_type": spec.task_type,
        "kind": spec.kind.value,
        "cron_expression": spec.cron_expression,
        "timezone": spec.timezone,
        "run_at": spec.run_at,
        "payload": spec.payload,
        "active": spec.active,
        "overlap_policy": spec.overlap_policy.value,
        "misfire_policy": spec.misfire_policy.value,
        "misfire_grace_s": spec.misfire_grace_s,
        "timeout_s": spec.timeout_s,
        "max_attempts": spec.max_attempts,
        "ordering_key": spec.ordering_key,
        "after_task_id": spec.after.task_id if spec.after is not None else None,
        "after_on": spec.after.on.value if spec.after is not None else None,
    }


def _values_of(task: Task) -> dict[str, Any]:
    """A stored task as `TaskInput` fields (the `kind` as its text, as `_values` has it)."""
    return {field: getattr(task, field) for field in TaskInput.model_fields} | {
        "kind": task.kind.value,
        "overlap_policy": task.overlap_policy.value,
        "misfire_policy": task.misfire_policy.value,
        "after": None if task.after is None else {"task_id": task.after.task_id, "on": task.after.on},
    }


def _check_task_type(connection: Connection, task_type: str) -> None:
    found = connection.execute(select(task_types.c.name).where(task_types.c.name == task_type)).first()
    if found is None:
        known = ", ".join(connection.execute(select(task_types.c.name).order_by("name")).scalars())
        raise FieldProblem("task_type", f"unknown task type {task_type!r} (known: {known})")


def create_task(engine: Engine, spec: TaskInput, now: datetime) -> Task:
    """Store a new task. The Scheduler materialises its schedule rows on its next pass."""
    check_run_at_in_future(spec.run_at, now)
    with engine.begin() as connection:
        _check_task_type(connection, spec.task_type)
        _check_after(connection, None, spec)
        task_id = connection.execute(
            insert(tasks)
            .values(**_values(spec), created_at=now, updated_at=now, materialized_until=None)
            .returning(tasks.c.id)
        ).scalar_one()
        return _get(connection, task_id, now)


def update_task(engine: Engine, task_id: int, spec: TaskInput, now: datetime) -> Task:
    """Replace a task's definition. Its `Scheduled` rows go and its materialisation mark is
    cleared, so the next Scheduler pass repopulates it from the new definition; rows already
    queued, running or finished stay as history."""
    check_run_at_in_future(spec.run_at, now)
    with engine.begin() as connection:
        _lock_existing(connection, task_id)
        _check_task_type(connection, spec.task_type)
        _check_after(connection, task_id, spec)
        connection.execute(
            update(tasks)
            .where(tasks.c.id == task_id)
            .values(**_values(spec), updated_at=now, materialized_until=None)
        )
        _delete_scheduled_rows(connection, task_id)
        _mark_runs_in_flight(connection, task_id, spec)
        return _get(connection, task_id, now)


def set_inactive(engine: Engine, task_id: int, now: datetime) -> Task:
    """Stop scheduling a task: it is marked inactive and its `Scheduled` rows are removed."""
    with engine.begin() as connection:
        _lock_existing(connection, task_id)
        connection.execute(
            update(tasks)
            .where(tasks.c.id == task_id)
            .values(active=False, updated_at=now, materialized_until=None)
        )
        _delete_scheduled_rows(connection, task_id, keep_triggered=False)
        return _get(connection, task_id, now)


# A change of one of these rewrites the task's Scheduled rows; the policies decide how each
# row is claimed (its policy_claim mark), so they count too.
SCHEDULE_FIELDS = (
    "kind",
    "cron_expression",
    "timezone",
    "run_at",
    "overlap_policy",
    "misfire_policy",
    "ordering_key",
)


def edit_task(engine: Engine, task_id: int, changes: Mapping[str, Any], now: datetime) -> Task:
    """Change only the fields in `changes` (`TaskInput` field -> value); the rest keep their
    stored values, checked again as a whole in the same transaction.

    A change of `kind` drops the fields of the old kind: a cron task given
    `{"kind": "once", "run_at": t}` loses its expression and zone. When a schedule field
    changes, the task is rescheduled as `update_task` does; when only the name, type or
    payload change, its `Scheduled` rows stay (an immediate task is not run again).
    `run_at` must be in the future only when it is given.

    Example: `edit_task(engine, 7, {"timezone": "Europe/Paris"}, now)` moves the cron task
    7 to Paris time and keeps its expression, name, type and payload.
    """
    with engine.begin() as connection:
        _lock_existing(connection, task_id)
        stored = _values_of(_get(connection, task_id, now))
        current = dict(stored)
        if changes.get("kind", current["kind"]) != current["kind"]:
            current |= {
                "cron_expression": None,
                "timezone": None,
                "run_at": None,
                "after": None,
            } | DEFAULT_POLICIES
        try:
            spec = TaskInput.model_validate(current | dict(changes))
        except ValidationError as error:
            raise field_problems(error)[0] from None
        if "run_at" in changes:
            check_run_at_in_future(spec.run_at, now)
        if "task_type" in changes:
            _check_task_type(connection, spec.task_type)
        _check_after(connection, task_id, spec)
        values = _values(spec)
        if any(values[name] != stored[name] for name in SCHEDULE_FIELDS):
            values["materialized_until"] = None
            _delete_scheduled_rows(connection, task_id)
            _mark_runs_in_flight(connection, task_id, spec)
        connection.execute(update(tasks).where(tasks.c.id == task_id).values(**values, updated_at=now))
        return _get(connection, task_id, now)


def set_active(engine: Engine, task_id: int, now: datetime) -> Task:
    """Schedule an inactive task again from `now` on: a cron task fires at its next times
    after `now` (runs missed while inactive are not made up), an immediate task runs once
    more, a once task runs at its `run_at`, which must still be ahead (FieldProblem on
    `run_at` otherwise: give it a new time with an edit). An active task is left as it is.
    """
    with engine.begin() as connection:
        if _lock_existing(connection, task_id):
            return _get(connection, task_id, now)
        task = _get(connection, task_id, now)
        if task.kind is TaskKind.ONCE and task.run_at is not None and task.run_at <= now:
            raise FieldProblem(
                "run_at", f"run_at {task.run_at.isoformat()} has passed; give the task a new run_at first"
            )
        connection.execute(
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.active.is_(False))
            .values(active=True, updated_at=now, materialized_until=None)
        )
        return _get(connection, task_id, now)


def run_now(engine: Engine, task_id: int, now: datetime) -> int:
    """Schedule one extra run of an active task at `now`; returns the schedule row id."""
    with engine.begin() as connection:
        if not _lock_existing(connection, task_id):
            raise TaskInactive(task_id)
        existing = connection.execute(
            select(task_schedule.c.id).where(
                task_schedule.c.task_id == task_id, task_schedule.c.scheduled_time == now
            )
        ).scalar()
        if existing is not None:
            return int(existing)
        return int(
            connection.execute(
                insert(task_schedule)
                .values(
                    task_id=task_id,
                    scheduled_time=now,
                    status=ScheduleStatus.SCHEDULED.value,
                    attempt=0,
                    policy_claim=_claimed_by_policy(connection, task_id),
                )
                .returning(task_schedule.c.id)
            ).scalar_one()
        )


def get_task(engine: Engine, task_id: int, now: datetime | None = None) -> Task:
    """One task; with `now`, its `next_run` as of `now` (from its definition and rows)."""
    with read_connection(engine) as connection:
        return _get(connection, task_id, now)


def next_runs(task: Task, now: datetime, count: int = 5) -> list[datetime]:
    """The task's next `count` runs after `now` (see `engine.core.next_runs`)."""
    return upcoming_runs(
        task.kind,
        task.active,
        now,
        cron=_cron(task),
        run_at=task.run_at,
        pending_run=task.next_run,
        count=count,
    )


def _cron(task: Task) -> CronSchedule | None:
    if task.kind is TaskKind.CRON and task.cron_expression is not None:
        return CronSchedule(task.cron_expression, task.timezone or "UTC")
    return None


def _as_of(task: Task, now: datetime | None) -> Task:
    """`task` with `next_run` as of `now`: its earliest pending row (`task.next_run` as
    read) or, if earlier, its next run from the definition."""
    if now is None:
        return task
    upcoming = next_run(
        task.kind, task.active, now, cron=_cron(task), run_at=task.run_at, pending_run=task.next_run
    )
    return replace(task, next_run=upcoming)


def list_tasks(
    engine: Engine,
    task_filter: TaskFilter = TaskFilter(),
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> TaskPage:
    """A page of tasks, newest id first, each with its next run as of `now` (without it:
    its earliest pending schedule row) and last outcome."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise FieldProblem("limit", f"limit must be between 1 and {MAX_PAGE_SIZE}")
    if offset < 0:
        raise FieldProblem("offset", "offset must not be negative")
    conditions = []
    if task_filter.task_type is not None:
        conditions.append(tasks.c.task_type == task_filter.task_type)
    if task_filter.kind is not None:
        conditions.append(tasks.c.kind == task_filter.kind.value)
    if task_filter.active is not None:
        conditions.append(tasks.c.active == task_filter.active)
    if task_filter.name_contains:
        # Literal and case-insensitive: the user's % and _ are escaped, not wildcards. On
        # PostgreSQL this is `name ILIKE '%q%'`, which the trigram index serves.
        conditions.append(tasks.c.name.icontains(task_filter.name_contains, autoescape=True))
    recent_from = _recent_from(now)
    if task_filter.last_outcome is not None:
        last = _latest_finished(task_schedule.c.status, since=recent_from)
        if recent_from is not None:  # none since then: the latest of the older history
            last = func.coalesce(last, _latest_finished(task_schedule.c.status, before=recent_from))
        wanted = task_filter.last_outcome
        conditions.append(last.is_(None) if wanted == NO_RUN_YET else last == wanted)
    where = and_(*conditions) if conditions else None
    with read_connection(engine) as connection:
        count_query = select(func.count()).select_from(tasks)
        page_query = _task_query(recent_from).order_by(tasks.c.id.desc()).limit(limit).offset(offset)
        if where is not None:
            count_query = count_query.where(where)
            page_query = page_query.where(where)
        total = connection.execute(count_query).scalar_one()
        found = [_to_task(row) for row in connection.execute(page_query).mappings()]
        items = [_as_of(task, now) for task in _with_older_outcomes(connection, found, recent_from)]
    return TaskPage(items=items, total=int(total))


def _task_query(recent_from: datetime | None) -> Any:
    """Tasks with their earliest pending run and, searched among the rows scheduled from
    `recent_from` on (all of them without it), their last outcome: `_with_older_outcomes`
    completes the tasks with none there. On PostgreSQL the page's read then plans and
    probes only the recent weeks' partitions for the outcome, however long the history."""
    next_run = (
        select(func.min(task_schedule.c.scheduled_time))
        .where(
            task_schedule.c.task_id == tasks.c.id,
            task_schedule.c.status == ScheduleStatus.SCHEDULED.value,
        )
        .correlate(tasks)
        .scalar_subquery()
    )
    return select(
        tasks,
        next_run.label("next_run"),
        _latest_finished(task_schedule.c.status, since=recent_from).label("last_run_status"),
        _latest_finished(task_schedule.c.finished_at, since=recent_from).label("last_run_at"),
    )


def _recent_from(now: datetime | None) -> datetime | None:
    return None if now is None else now - LAST_OUTCOME_RECENT


def _latest_finished(column: Any, since: datetime | None = None, before: datetime | None = None) -> Any:
    """`column` of the task's latest finished schedule row scheduled in [`since`, `before`),
    correlated to `tasks`: read from that row directly, not through its id (on PostgreSQL an
    id alone names no week, so a lookup by id probes every partition)."""
    finished = [ScheduleStatus.SUCCEEDED.value, ScheduleStatus.FAILED.value, ScheduleStatus.DEAD.value]
    latest = (
        select(column)
        .where(task_schedule.c.task_id == tasks.c.id, task_schedule.c.status.in_(finished))
        .order_by(task_schedule.c.scheduled_time.desc())
        .limit(1)
        .correlate(tasks)
    )
    if since is not None:
        latest = latest.where(task_schedule.c.scheduled_time >= since)
    if before is not None:
        latest = latest.where(task_schedule.c.scheduled_time < before)
    return latest.scalar_subquery()


def _with_older_outcomes(
    connection: Connection, found: list[Task], recent_from: datetime | None
) -> list[Task]:
    """`found` (read by `_task_query(recent_from)`), the tasks without an outcome since
    `recent_from` completed with their latest one before it, in one read for them all:
    the same outcome a search of the whole history finds."""
    without = [task.id for task in found if task.last_run_status is None]
    if recent_from is None or not without:
        return found
    older = {
        int(row.id): row
        for row in connection.execute(
            select(
                tasks.c.id,
                _latest_finished(task_schedule.c.status, before=recent_from).label("status"),
                _latest_finished(task_schedule.c.finished_at, before=recent_from).label("finished_at"),
            ).where(tasks.c.id.in_(without))
        )
        if row.status is not None
    }
    return [
        replace(task, last_run_status=older[task.id].status, last_run_at=older[task.id].finished_at)
        if task.id in older
        else task
        for task in found
    ]


def _get(connection: Connection, task_id: int, now: datetime | None) -> Task:
    row = connection.execute(_task_query(_recent_from(now)).where(tasks.c.id == task_id)).mappings().first()
    if row is None:
        raise TaskNotFound(task_id)
    (found,) = _with_older_outcomes(connection, [_to_task(row)], _recent_from(now))
    task = _as_of(found, now)
    dependents = connection.execute(
        select(tasks.c.id, tasks.c.active).where(tasks.c.after_task_id == task_id).order_by(tasks.c.id)
    ).all()
    return replace(
        task,
        warnings=_warnings(connection, task, [int(d.id) for d in dependents if d.active]),
        dependents=tuple(int(d.id) for d in dependents),
    )


def _lock_existing(connection: Connection, task_id: int) -> bool:
    """Lock the task's row for this transaction; returns whether it is active."""
    query = select(tasks.c.active).where(tasks.c.id == task_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).first()
    if row is None:
        raise TaskNotFound(task_id)
    return bool(row.active)


def _delete_scheduled_rows(connection: Connection, task_id: int, keep_triggered: bool = True) -> None:
    """Remove the task's `Scheduled` rows. Rows an upstream run triggered are not the task's
    schedule: an edit keeps them (they still run), an inactivation removes them."""
    c = task_schedule.c
    where = [c.task_id == task_id, c.status == ScheduleStatus.SCHEDULED.value]
    if keep_triggered:
        where.append(c.upstream_schedule_id.is_(None))
    connection.execute(delete(task_schedule).where(*where))


# The key of the transaction-scoped advisory lock under which dependency edits check for
# cycles on PostgreSQL ("HWDP"): two edits that together would close a cycle run one after
# the other, the second seeing the first. SQLite serialises writers anyway.
DEPENDENCY_LOCK = 0x48574450


def _check_after(connection: Connection, task_id: int | None, spec: TaskInput) -> None:
    """FieldProblem on `after` for an unknown upstream, the task itself, or a cycle
    (`engine.core.dependencies.dependency_cycle`)."""
    if spec.after is None:
        return
    upstream = spec.after.task_id
    if upstream == task_id:
        raise FieldProblem("after", f"task {task_id} cannot run after itself")
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(DEPENDENCY_LOCK)))
    if connection.execute(select(tasks.c.id).where(tasks.c.id == upstream)).first() is None:
        raise FieldProblem("after", f"unknown upstream task {upstream}")
    edges = connection.execute(
        select(tasks.c.id, tasks.c.after_task_id).where(tasks.c.after_task_id.is_not(None))
    )
    upstream_of = {int(row.id): int(row.after_task_id) for row in edges}
    cycle = dependency_cycle(task_id, upstream, upstream_of)
    if cycle is not None:
        chain = " -> ".join(str(node) for node in cycle)
        raise FieldProblem("after", f"task {upstream} would close a dependency cycle: {chain}")


def _warnings(connection: Connection, task: Task, active_dependents: list[int]) -> tuple[str, ...]:
    """Why a dependency of `task` will not fire (see `Task.warnings`)."""
    found: list[str] = []
    if task.after is not None:
        upstream = connection.execute(select(tasks.c.active).where(tasks.c.id == task.after.task_id)).first()
        if upstream is None:
            found.append(f"upstream task {task.after.task_id} was deleted: this task will not be triggered")
        elif not upstream.active:
            found.append(f"upstream task {task.after.task_id} is inactive: this task is not triggered")
    if not task.active and active_dependents:
        ids = ", ".join(str(i) for i in active_dependents)
        found.append(f"task is inactive: its active dependent tasks {ids} are not triggered")
    return tuple(found)


def _claimed_by_policy(connection: Connection, task_id: int) -> bool:
    t = tasks.c
    row = connection.execute(
        select(t.overlap_policy, t.misfire_policy, t.ordering_key).where(t.id == task_id)
    ).one()
    return uses_policies(row.overlap_policy, row.misfire_policy, row.ordering_key)


def _mark_runs_in_flight(connection: Connection, task_id: int, spec: TaskInput) -> None:
    """The task's runs still in flight count as its earlier run under the new policies: an
    overlap policy set while one runs waits for (or skips past) that run."""
    c = task_schedule.c
    connection.execute(
        update(task_schedule)
        .where(
            c.task_id == task_id,
            c.status.in_(IN_FLIGHT)
            | ((c.status == ScheduleStatus.FAILED.value) & c.next_attempt_at.is_not(None)),
        )
        .values(policy_claim=uses_policies(spec.overlap_policy, spec.misfire_policy, spec.ordering_key))
    )


def _to_task(row: RowMapping) -> Task:
    return Task(
        id=int(row["id"]),
        name=row["name"],
        task_type=row["task_type"],
        kind=TaskKind(row["kind"]),
        cron_expression=row["cron_expression"],
        timezone=row["timezone"],
        run_at=row["run_at"],
        payload=row["payload"],
        active=bool(row["active"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        next_run=row["next_run"],
        last_run_status=row["last_run_status"],
        last_run_at=row["last_run_at"],
        overlap_policy=OverlapPolicy(row["overlap_policy"]),
        misfire_policy=MisfirePolicy(row["misfire_policy"]),
        misfire_grace_s=row["misfire_grace_s"],
        timeout_s=row["timeout_s"],
        max_attempts=row["max_attempts"],
        ordering_key=row["ordering_key"],
        after=None
        if row["after_task_id"] is None
        else TaskAfter(int(row["after_task_id"]), DependencyTrigger(row["after_on"])),
    )
