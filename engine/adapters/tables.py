"""SQLAlchemy Core descriptions of the tables the `sql/` migrations create, for building
queries. The DDL itself lives in `sql/`; tests check the two agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out: TIMESTAMPTZ on PostgreSQL, naive-UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


Json = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

task_types = Table(
    "task_types",
    metadata,
    Column("name", Text, primary_key=True),
    Column("description", Text, nullable=False),
    Column("handler", Text, nullable=False),
    Column("expected_duration_ms", Integer, nullable=False),
    Column("timeout_ms", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("config", Json, nullable=False),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", Text, nullable=False),
    Column("task_type", Text, ForeignKey("task_types.name"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("cron_expression", Text),
    Column("timezone", Text),
    Column("run_at", UTCDateTime),
    Column("payload", Json, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("materialized_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Scheduling policies (0012_task_policies, engine.core.policies); NULL overrides take
    # the task type's value, a NULL grace the default one.
    Column("overlap_policy", Text, nullable=False),
    Column("misfire_policy", Text, nullable=False),
    Column("misfire_grace_s", Integer),
    Column("timeout_s", Integer),
    Column("max_attempts", Integer),
    # Tasks sharing it start one at a time, in scheduled order (0014_ordering_keys).
    Column("ordering_key", Text),
    # A task of kind `after` runs when a run of this task ends as `after_on` asks
    # (0015_task_dependencies, engine.core.dependencies).
    Column("after_task_id", Id),
    Column("after_on", Text),
)

task_schedule = Table(
    "task_schedule",
    metadata,
    Column("id", Id, primary_key=True),
    Column("task_id", Id, ForeignKey("tasks.id"), nullable=False),
    Column("scheduled_time", UTCDateTime, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("claimed_by", Text),
    Column("lease_expires_at", UTCDateTime),
    Column("queued_at", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("last_error", Text),
    Column("next_attempt_at", UTCDateTime),
    Column("start_lag_ms", Integer),
    # Set when a Dead row is discarded: it stays Dead as history but is no dead letter any more.
    Column("discarded_at", UTCDateTime),
    # Why a Skipped row did not run (engine.core.policies.SkipReason); set exactly when Skipped.
    Column("skip_reason", Text),
    # The task's policies were not the defaults when the row was written: claimed by policy.
    Column("policy_claim", Boolean, nullable=False),
    # The task's type, copied so a window's rows are counted per type without reading tasks
    # (0013); triggers fill it when a writer leaves it out and follow an edited type.
    Column("task_type", Text),
    # The upstream run whose outcome triggered this row of an `after` task (0015).
    Column("upstream_schedule_id", Id),
)

task_runs = Table(
    "task_runs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("schedule_id", Id, ForeignKey("task_schedule.id")),
    Column("task_id", Id, ForeignKey("tasks.id")),
    Column("task_type", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("elapsed_ms", Integer),
    Column("outcome", Text),
    Column("output_excerpt", Text),
    Column("error", Text),
    # Its schedule row's scheduled_time: on PostgreSQL the partition key, which the foreign
    # key to task_schedule names (0011_partitioned_history).
    Column("scheduled_time", UTCDateTime),
)

scaling_parameters = Table(
    "scaling_parameters",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("capacity_ms", Integer, nullable=False),
    Column("buffer_ppm", Integer, nullable=False),
)

processor_heartbeats = Table(
    "processor_heartbeats",
    metadata,
    Column("processor_id", Text, primary_key=True),
    Column("hostname", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
)

reconciliation_counts = Table(
    "reconciliation_counts",
    metadata,
    Column("kind", Text, primary_key=True),
    Column("row_count", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
)

# Fire times recorded Skipped, ever, per reason (0016_skip_counts): a counter for /metrics.
skip_counts = Table(
    "skip_counts",
    metadata,
    Column("reason", Text, primary_key=True),
    Column("row_count", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
)

# Daily rollups of task_runs (0009_history): see sql/postgresql/0009_history.sql.
Count = BigInteger().with_variant(Integer(), "sqlite")

task_run_rollups = Table(
    "task_run_rollups",
    metadata,
    Column("task_type", Text, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("run_count", Count, nullable=False),
    Column("succeeded_count", Count, nullable=False),
    Column("failed_count", Count, nullable=False),
    Column("elapsed_count", Count, nullable=False),
    Column("elapsed_ms_sum", Count, nullable=False),
    Column("start_lag_count", Count, nullable=False),
    Column("start_lag_ms_sum", Count, nullable=False),
)

task_run_rollup_buckets = Table(
    "task_run_rollup_buckets",
    metadata,
    Column("task_type", Text, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("measure", Text, primary_key=True),
    Column("bucket", Integer, primary_key=True),
    Column("run_count", Count, nullable=False),
)

history_rollup_state = Table(
    "history_rollup_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rolled_up_run_id", Id, nullable=False),
)

average_elapsed_time_per_task_type = Table(
    "average_elapsed_time_per_task_type",
    MetaData(),
    Column("task_type", Text),
    Column("avg_elapsed_ms", BigInteger),
    Column("run_count", BigInteger),
)

scheduled_tasks_summary = Table(
    "scheduled_tasks_summary",
    MetaData(),
    Column("scheduled_time", UTCDateTime),
    Column("task_count", BigInteger),
    Column("total_compute_ms", BigInteger),
    Column("required_instances", BigInteger),
)

forecast_snapshot_minutes = Table(
    "forecast_snapshot_minutes",
    metadata,
    Column("minute", UTCDateTime, primary_key=True),
    Column("lead_minutes", Integer, primary_key=True),
    Column("taken_at", UTCDateTime, nullable=False),
)

forecast_snapshots = Table(
    "forecast_snapshots",
    metadata,
    Column("minute", UTCDateTime, primary_key=True),
    Column("lead_minutes", Integer, primary_key=True),
    Column("task_type", Text, primary_key=True),
    Column("task_count", Integer, nullable=False),
    Column("compute_ms", BigInteger, nullable=False),
)
