"""`headway db`: schema migrations, and the history's size and pruning."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    BufferOption,
    CapacityOption,
    DatabaseUrlOption,
    RetentionDaysOption,
    command_settings,
    database,
    fail,
    format_instant,
    utc_now,
)

if TYPE_CHECKING:
    from engine.adapters.history_store import HistoryStats

app = typer.Typer(help="Database schema, history size and pruning.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
) -> None:
    """Apply all pending migrations, record the scaling parameters and, on PostgreSQL,
    create the history's weekly partitions ahead."""
    from alembic.util.exc import CommandError

    from engine.adapters.database import is_postgresql, store_scaling_parameters
    from engine.adapters.migrations import SchemaOutdated, current_revision
    from engine.adapters.migrations import upgrade as run_upgrade
    from engine.adapters.partition_store import ensure_partitions

    with database(database_url, check_schema=False) as engine:
        try:
            run_upgrade(engine)
        except (SchemaOutdated, CommandError) as error:
            fail(f"upgrade failed: {error}", code=1)
        with engine.begin() as connection:
            store_scaling_parameters(connection, capacity_ms, buffer)
            if is_postgresql(connection):
                ensure_partitions(connection, utc_now())
        typer.echo(f"database at revision {current_revision(engine)}")


@app.command("current")
def current(database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL) -> None:
    """Print the database's schema revision."""
    from engine.adapters.migrations import current_revision, head_revision

    with database(database_url, check_schema=False) as engine:
        typer.echo(f"{current_revision(engine) or 'empty'} (head {head_revision()})")


@app.command("prune")
def prune(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed.")] = False,
    retention_days: RetentionDaysOption = 30,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=100_000, help="Schedule rows removed per transaction.")
    ] = 5_000,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Remove finished schedule rows (Succeeded, or Failed with no retry pending) older than
    the retention, with their runs, after rolling their statistics up, and the forecast
    snapshots of minutes that old. Rows not finished and dead letters stay, however old. On
    PostgreSQL whole weeks are dropped (and the weeks ahead created). The Scheduler does this
    every few minutes on its own."""
    from datetime import timedelta

    from engine.adapters.database import read_connection
    from engine.adapters.forecast_accuracy_store import count_snapshot_rows_before, prune_snapshots_before
    from engine.adapters.history_store import count_prunable, prune_history
    from engine.core.retention import retention_cutoff

    settings = command_settings(ctx)
    retention = timedelta(days=settings.retention_days)
    now = utc_now().replace(microsecond=0)
    cutoff_instant = retention_cutoff(now, retention)
    cutoff = format_instant(cutoff_instant)
    with database(database_url) as engine:
        if dry_run:
            with read_connection(engine) as connection:
                result = count_prunable(connection, now, retention)
                snapshot_rows = count_snapshot_rows_before(connection, cutoff_instant)
            verb = "would remove"
        else:
            result = prune_history(engine, now, retention, batch_rows=batch_size)
            snapshot_rows = prune_snapshots_before(engine, cutoff_instant)
            verb = "removed"
    typer.echo(
        f"{verb} {result.schedule_rows} schedule rows and {result.run_rows} runs finished before "
        f"{cutoff} (retention {settings.retention_days} days)"
    )
    typer.echo(f"{verb} {snapshot_rows} forecast snapshot rows of minutes before {cutoff}")


@app.command("stats")
def stats(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    retention_days: RetentionDaysOption = 30,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Rows per table and per schedule status, sizes, the oldest rows, how far runs are
    rolled up, what pruning would remove, and on PostgreSQL each weekly partition with its
    rows and size."""
    import dataclasses
    import json
    from datetime import timedelta

    from engine.adapters.history_store import history_stats

    settings = command_settings(ctx)
    with database(database_url) as engine:
        result = history_stats(engine, utc_now(), timedelta(days=settings.retention_days))
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(result), default=_json_value))
        return
    typer.echo(_stats_text(result))


def _json_value(value: Any) -> str:
    from datetime import date, datetime

    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")


def _stats_text(result: HistoryStats) -> str:
    def size(value: int | None) -> str:
        return "-" if value is None else f"{value / 1_048_576:,.1f} MiB"

    def instant(value: Any) -> str:
        return "-" if value is None else (format_instant(value) if hasattr(value, "hour") else str(value))

    lines = [f"{'table':<26}{'rows':>14}{'size':>14}"]
    lines += [f"{t.name:<26}{t.rows:>14,}{size(t.size_bytes):>14}" for t in result.tables]
    statuses = ", ".join(f"{status} {count:,}" for status, count in result.schedule_rows_by_status.items())
    lines += [
        f"database size: {size(result.database_size_bytes)}",
        f"schedule rows by status: {statuses or 'none'}",
        f"oldest schedule row: {instant(result.oldest_scheduled_time)}; oldest run: "
        f"{instant(result.oldest_run_started_at)}; oldest rollup day: {instant(result.oldest_rollup_day)}",
        f"runs rolled up through id {result.rolled_up_run_id:,}",
        f"pruning at {result.retention_days} days would remove {result.prunable.schedule_rows:,} schedule "
        f"rows and {result.prunable.run_rows:,} runs",
    ]
    if result.partitions:
        lines += ["", f"{'partition':<26}{'from':>12}{'to':>12}{'rows':>14}{'size':>14}"]
        lines += [
            f"{p.name:<26}{_day(p.start):>12}{_day(p.end):>12}{p.rows:>14,}{size(p.size_bytes):>14}"
            for p in result.partitions
        ]
    return "\n".join(lines)


def _day(value: Any) -> str:
    """A partition bound as its UTC day; '-' for the default partition's."""
    from datetime import UTC

    return "-" if value is None else value.astimezone(UTC).date().isoformat()
