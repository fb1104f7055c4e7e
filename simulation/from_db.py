"""`--from-db`: a `Workload` from the database's active tasks, their types and run history.

Types with runs in the year before `now` use the `empirical` model over those elapsed times;
the others use `fixed` at `expected_duration_ms`. Active `immediate` tasks that never ran are
due at the window start (they are waiting now); `once` tasks are due at `run_at` (naive
timestamps are UTC); `after` tasks follow their upstream's runs as `after_on` asks (left out,
with their own dependents, when the upstream is not active). Overlap and misfire policies (with
the grace), ordering keys and each task's `timeout_s` and `max_attempts` are read as a workload
file gives them. Problems are `WorkloadError`s naming the task and field, exit 2.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import bindparam, text

from engine.adapters.database import read_connection
from engine.adapters.tables import UTCDateTime
from engine.core.cron import CronError, parse_schedule
from engine.core.dependencies import DependencyTrigger
from engine.core.policies import MisfirePolicy, OverlapPolicy
from simulation.attempts import AttemptModel
from simulation.defaults import DEFAULT_MAX_ATTEMPTS
from simulation.durations import DurationError, DurationModel, duration_model
from simulation.workload import TaskSpec, Workload, WorkloadError

HISTORY = timedelta(days=365)

_TYPES = text("SELECT name, expected_duration_ms, timeout_ms, max_attempts FROM task_types ORDER BY name")
_TASKS = text(
    "SELECT t.id, t.name, t.task_type, t.kind, t.cron_expression, t.timezone, t.run_at, t.overlap_policy, "
    "t.misfire_policy, t.misfire_grace_s, t.timeout_s, t.max_attempts, "
    "t.ordering_key, t.after_task_id, t.after_on "
    "FROM tasks t WHERE t.active AND (t.kind <> 'immediate' OR NOT EXISTS "
    "(SELECT 1 FROM task_runs r WHERE r.task_id = t.id)) ORDER BY t.id"
)
_RUNS = text(
    "SELECT task_type, elapsed_ms FROM task_runs "
    "WHERE started_at >= :since AND started_at < :until AND elapsed_ms IS NOT NULL"
).bindparams(bindparam("since", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime()))


def _connect(url: str, source: str) -> sqlalchemy.Engine:
    """An engine for `url`; a SQLite file must exist already (connecting would create an empty
    one, and leave it behind)."""
    from engine.adapters.database import create_db_engine
    from engine.settings import normalize_database_url

    parsed = sqlalchemy.engine.make_url(normalize_database_url(url))
    path = parsed.database
    is_file = parsed.get_backend_name() == "sqlite" and path and path != ":memory:"
    if is_file and not Path(str(path)).is_file():
        raise WorkloadError(
            source, 0, "(database)", "no such file: check --database-url (or run `headway db upgrade`)"
        )
    return create_db_engine(url)


def _describe(url: str) -> str:
    """The URL without its password, to name the database in messages."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return "database"


def _instant(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read(
    engine: sqlalchemy.Engine, now: datetime, source: str
) -> tuple[dict[str, int | None], list[Any], dict[str, list[int]], dict[str, AttemptModel]]:
    """Expected durations by type, the active tasks, and elapsed times by type in the year."""
    with read_connection(engine) as connection:
        tables = set(sqlalchemy.inspect(connection).get_table_names())
        if not {"tasks", "task_types", "task_runs"} <= tables:
            raise WorkloadError(source, 0, "(database)", "no Headway schema: run `headway db upgrade` first")
        type_rows = list(connection.execute(_TYPES))
        expected = {row.name: row.expected_duration_ms for row in type_rows}
        # Timeouts and attempts as the engine has them; failures need --calibrate.
        attempts = {
            row.name: AttemptModel(
                0.0,
                DEFAULT_MAX_ATTEMPTS if row.max_attempts is None else int(row.max_attempts),
                None if row.timeout_ms is None else int(row.timeout_ms),
            )
            for row in type_rows
        }
        tasks = list(connection.execute(_TASKS))
        history: dict[str, list[int]] = defaultdict(list)
        runs = connection.execute(_RUNS, {"since": now - HISTORY, "until": now})
        for task_type, elapsed_ms in runs:
            history[task_type].append(int(elapsed_ms))
    return expected, tasks, history, attempts


def load_from_database(url: str, now: datetime) -> Workload:
    """Read the workload as of `now` (the window start)."""
    source = _describe(url)
    try:
        engine = _connect(url, source)
        try:
            expected, tasks, history, attempts = _read(engine, now, source)
        finally:
            engine.dispose()
    except WorkloadError:
        raise
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as error:  # ValueError: a bad port
        reason = str(getattr(error, "orig", None) or error)
        raise WorkloadError(source, 0, "(database)", reason) from error
    if not tasks:
        raise WorkloadError(source, 0, "tasks", "no active tasks to simulate")
    types: dict[str, DurationModel] = {}
    specs: list[TaskSpec] = []
    index_of: dict[int, int] = {}
    upstreams: dict[int, int] = {}  # index -> upstream task id, resolved below
    for row in tasks:
        where = f"tasks[{row.name}]"
        if row.task_type not in types:
            types[row.task_type] = _model(row.task_type, expected, history, source, where)
        if row.kind == "cron":
            try:
                schedule = parse_schedule(row.cron_expression or "", row.timezone or "UTC")
            except CronError as error:
                raise WorkloadError(source, 0, f"{where}.{error.field}", error.message) from error
            spec = TaskSpec(
                row.name,
                row.task_type,
                schedule=schedule,
                overlap=OverlapPolicy(row.overlap_policy),
                misfire=MisfirePolicy(row.misfire_policy),
                misfire_grace_s=row.misfire_grace_s,
            )
        elif row.kind == "once":
            if row.run_at is None:
                raise WorkloadError(source, 0, f"{where}.run_at", "a once task needs run_at")
            spec = TaskSpec(row.name, row.task_type, run_at=_instant(row.run_at))
        elif row.kind == "immediate":
            spec = TaskSpec(row.name, row.task_type, run_at=now)
        elif row.kind == "after":
            spec = TaskSpec(row.name, row.task_type, on=DependencyTrigger(row.after_on))
            upstreams[len(specs)] = int(row.after_task_id)
        else:
            raise WorkloadError(source, 0, f"{where}.kind", f"unknown kind {row.kind!r}")
        index_of[int(row.id)] = len(specs)
        specs.append(
            replace(
                spec,
                ordering_key=row.ordering_key,
                timeout_s=row.timeout_s,
                max_attempts=row.max_attempts,
            )
        )
    return Workload(
        types,
        _linked(specs, upstreams, index_of),
        {name: attempts[name] for name in types if name in attempts},
    )


def _linked(
    specs: list[TaskSpec], upstreams: dict[int, int], index_of: dict[int, int]
) -> tuple[TaskSpec, ...]:
    """The tasks, each `after` task pointing at its upstream's index; one whose upstream is not
    active (inactive or deleted) is left out, as the engine does not trigger it, and so are its
    own dependents."""
    linked = {index: index_of[upstream] for index, upstream in upstreams.items() if upstream in index_of}
    dropped = set(upstreams) - set(linked)
    while True:
        more = {index for index, upstream in linked.items() if upstream in dropped} - dropped
        if not more:
            break
        dropped |= more
    kept = [index for index in range(len(specs)) if index not in dropped]
    new_index = {old: new for new, old in enumerate(kept)}
    return tuple(replace(specs[old], after=new_index[linked[old]] if old in linked else None) for old in kept)


def _model(
    task_type: str,
    expected: dict[str, int | None],
    history: dict[str, list[int]],
    source: str,
    where: str,
) -> DurationModel:
    try:
        if history.get(task_type):
            return duration_model("empirical", samples_ms=tuple(history[task_type]))
        if expected.get(task_type) is None:
            raise WorkloadError(
                source,
                0,
                f"{where}.task_type",
                f"type {task_type!r} has no expected_duration_ms and no recorded runs",
            )
        return duration_model("fixed", mean_ms=expected[task_type])
    except DurationError as error:
        raise WorkloadError(source, 0, f"{where}.task_type", error.message) from error
