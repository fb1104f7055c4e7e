"""The per-minute forecast of required instances, as the CLI, API and dashboard show it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from engine.adapters.database import load_scaling_parameters, read_connection
from engine.adapters.forecast_policy_store import load_dependency_plan, load_serialised_runs
from engine.adapters.forecast_store import (
    count_live_processors,
    count_runs_per_minute_and_type,
    load_compute_ms_by_type,
    load_skip_task_fire_times,
)
from engine.adapters.operations_store import sum_live_worker_slots
from engine.core.forecast import ForecastMinute, forecast_from_counts, forecast_window
from engine.core.forecast_policies import counts_with_policies
from engine.core.policies import counts_without_skipped
from engine.core.scaling import DEFAULT_BUFFER, DEFAULT_CAPACITY_MS
from engine.core.types import ScalingParameters

# A processor whose last heartbeat is older than this is no longer counted as running.
LIVE_PROCESSOR_WINDOW = timedelta(seconds=30)


def forecast(
    engine: Engine,
    now: datetime,
    hours: float = 3,
    capacity_ms: int = DEFAULT_CAPACITY_MS,
    buffer: float = DEFAULT_BUFFER,
    compute_ms_by_type: Mapping[str, int] | None = None,
) -> list[ForecastMinute]:
    """Every minute from the current one for `hours`, empty minutes as zero.

    The database counts the window's schedule rows per minute and type; the core turns the
    counts into compute and instances (as `forecast_minutes` would from the rows). Each
    type's compute is read too unless given (`compute_ms_by_type`, which a caller may keep a
    while: it averages a year of runs). The fire times an `overlap: skip` task will skip
    (those before its previous run's expected end, the type's compute) are taken out; a
    `queue` task's and an ordering key's runs move to their expected starts, one after the
    other, and the runs `after` tasks are expected to get are added at their upstream's
    expected end (`engine.core.forecast_policies`)."""
    with read_connection(engine) as connection:
        return forecast_on(connection, now, hours, capacity_ms, buffer, compute_ms_by_type)


def forecast_on(
    connection: Connection,
    now: datetime,
    hours: float,
    capacity_ms: int,
    buffer: float,
    compute_ms_by_type: Mapping[str, int] | None = None,
) -> list[ForecastMinute]:
    """`forecast`, read through a connection the caller holds (with its other reads)."""
    first, end = forecast_window(now, hours)
    counts = count_runs_per_minute_and_type(connection, first, end)
    compute = load_compute_ms_by_type(connection) if compute_ms_by_type is None else compute_ms_by_type
    skip_tasks = load_skip_task_fire_times(connection, first, end)
    serialised, keyed_skip_tasks = load_serialised_runs(connection, first, end)
    dependents, upstream_runs = load_dependency_plan(connection, first, end)
    planned = counts_with_policies(
        counts_without_skipped(counts, skip_tasks, compute),
        serialised,
        upstream_runs,
        dependents,
        compute,
        end,
        keyed_skip_tasks,
    )
    return forecast_from_counts(planned, compute, first, hours, capacity_ms, buffer)


def stored_scaling_parameters(engine: Engine) -> ScalingParameters:
    """The formula's parameters as recorded in the database (what the summary view uses)."""
    with read_connection(engine) as connection:
        return load_scaling_parameters(connection)


@dataclass(frozen=True, slots=True)
class LiveFleet:
    """The processors with a heartbeat within `LIVE_PROCESSOR_WINDOW`, and their worker slots:
    the formula's instances running now. An instance of the formula runs one task at a time,
    so two processors of concurrency 4 are 8 instances, not 2."""

    processors: int
    worker_slots: int


def live_fleet(engine: Engine, now: datetime) -> LiveFleet:
    seen_after = now - LIVE_PROCESSOR_WINDOW
    with read_connection(engine) as connection:
        return LiveFleet(
            count_live_processors(connection, seen_after), sum_live_worker_slots(connection, seen_after)
        )
