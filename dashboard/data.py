"""The dashboard's reads, cached briefly (`st.cache_data`), and its one database engine per URL.

Every read goes through `engine.services`, the same layer as the API and the CLI. Cached
functions take the database URL rather than an engine so the cache key says which database;
live figures (forecast, heartbeats, runs) keep a TTL of seconds. Writes clear the caches.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from engine.adapters.database import create_db_engine
from engine.adapters.migrations import SchemaOutdated, ensure_schema_current
from engine.core.attempt_stats import AttemptSummary
from engine.core.on_time import WaitingType
from engine.core.types import TaskKind
from engine.services.capacity import CapacityOutlook, capacity_outlook
from engine.services.dead_letters import DeadRow, list_dead_rows
from engine.services.metrics import (
    RecentRun,
    RunCount,
    TaskTypeMetrics,
    list_task_type_names,
    recent_runs,
    run_counts,
    task_type_metrics,
)
from engine.services.on_time import OnTimeReport, on_time_report, waiting_by_type
from engine.services.run_stats import attempt_summary
from engine.services.runs import RunPage, list_runs
from engine.services.tasks import TaskFilter, TaskPage, list_tasks
from engine.services.workers import (
    LiveProcessor,
    ThroughputMinute,
    live_processors,
    throughput_per_minute,
)
from engine.settings import Settings

LIVE_TTL_S = 10
DEFINITIONS_TTL_S = 60
# Figures over a day or a year move little in a minute; their reads scan a day's or a
# year's attempts, so they are kept for a minute (keyed by the minute, see `minute_instant`).
HISTORY_TTL_S = 60


def settings() -> Settings:
    """Read anew on every run, so a changed environment needs no restart of the process."""
    return Settings()


def utc_now() -> datetime:
    """The dashboard's one clock read per script run; pages pass the value down."""
    return datetime.now(UTC)


def live_instant(now: datetime) -> datetime:
    """`now` floored to the live TTL (10:04:37 -> 10:04:30), so cached live reads are keyed
    by a value that changes every few seconds rather than on every run."""
    return now.replace(second=now.second - now.second % LIVE_TTL_S, microsecond=0)


def minute_instant(now: datetime) -> datetime:
    """`now` floored to the minute (10:04:37 -> 10:04:00): the key of the history reads."""
    return now.replace(second=0, microsecond=0)


@st.cache_resource(show_spinner=False)
def get_engine(database_url: str) -> Engine:
    return create_db_engine(database_url)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def schema_problem(database_url: str) -> str | None:
    """Why the dashboard cannot use this database, or None when the schema is current."""
    try:
        ensure_schema_current(get_engine(database_url))
    except SchemaOutdated as error:
        return str(error)
    except (SQLAlchemyError, ValueError) as error:
        return f"cannot reach the database: {error.__class__.__name__}: {error}"
    return None


@st.cache_data(ttl=DEFINITIONS_TTL_S, show_spinner=False)
def load_task_types(database_url: str) -> list[str]:
    return list_task_type_names(get_engine(database_url))


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_task_page(
    database_url: str,
    task_type: str | None,
    kind: TaskKind | None,
    active: bool | None,
    name_contains: str | None,
    limit: int,
    offset: int,
    now: datetime,
    last_outcome: str | None = None,
) -> TaskPage:
    """Pass `live_instant(now)`: next runs are as of that instant."""
    task_filter = TaskFilter(
        task_type=task_type, kind=kind, active=active, name_contains=name_contains, last_outcome=last_outcome
    )
    return list_tasks(get_engine(database_url), task_filter, limit=limit, offset=offset, now=now)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_capacity(
    database_url: str,
    now: datetime,
    hours: float,
    capacity_ms: int,
    buffer: float,
    lead_minutes: int,
    cooldown_minutes: int,
) -> CapacityOutlook:
    """The series starts at the minute of `now`; pass `live_instant(now)` so that widget
    changes reuse the result and heartbeats are at most a few seconds old. The fleet is
    counted in worker slots (`engine.services.forecast.LiveFleet`), the formula's instances.
    Each type's compute, a year's average, comes from the Metrics page's read of the same
    view, kept for a minute (`load_type_metrics`)."""
    compute = {m.task_type: m.planned_compute_ms for m in load_type_metrics(database_url)}
    return capacity_outlook(
        get_engine(database_url),
        now,
        hours,
        capacity_ms,
        buffer,
        lead_minutes,
        cooldown_minutes,
        compute_ms_by_type=compute,
    )


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_waiting(database_url: str, now: datetime) -> list[WaitingType]:
    """Pass `live_instant(now)`."""
    return waiting_by_type(get_engine(database_url), now)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_processors(database_url: str, now: datetime) -> list[LiveProcessor]:
    """Pass `live_instant(now)`."""
    return live_processors(get_engine(database_url), now)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_throughput(database_url: str, start: datetime, end: datetime) -> list[ThroughputMinute]:
    return throughput_per_minute(get_engine(database_url), start, end)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def load_type_metrics(database_url: str) -> list[TaskTypeMetrics]:
    return task_type_metrics(get_engine(database_url))


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def load_run_counts(database_url: str, since: datetime) -> list[RunCount]:
    return run_counts(get_engine(database_url), since)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_recent_runs(database_url: str, limit: int) -> list[RecentRun]:
    return recent_runs(get_engine(database_url), limit)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_on_time(database_url: str, now: datetime, hours: float) -> OnTimeReport:
    """Pass `live_instant(now)`."""
    return on_time_report(get_engine(database_url), now, hours)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_runs(database_url: str, task_id: int, limit: int) -> RunPage:
    return list_runs(get_engine(database_url), task_id, limit)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def load_attempt_summary(database_url: str, start: datetime, end: datetime) -> AttemptSummary:
    """Pass instants floored by `minute_instant`, so that every run within the minute reuses it."""
    return attempt_summary(get_engine(database_url), start, end)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_dead_rows(database_url: str, limit: int, discarded: bool = False) -> list[DeadRow]:
    return list_dead_rows(get_engine(database_url), limit, discarded=discarded)


def forget_task_reads() -> None:
    """After a write: the next read of tasks and of the forecast goes to the database."""
    load_task_page.clear()
    load_capacity.clear()
    load_type_metrics.clear()
    load_runs.clear()
    load_dead_rows.clear()
