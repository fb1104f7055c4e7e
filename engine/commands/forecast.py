"""`headway forecast`: required instances per minute from the database."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    BufferOption,
    CapacityOption,
    DatabaseUrlOption,
    database,
    format_instant,
    setting_option,
    utc_now,
)
from engine.commands.forecast_accuracy import accuracy

app = typer.Typer(
    help="Required instances per minute, and how right past forecasts were (accuracy).",
    invoke_without_command=True,
)


@app.callback()
def forecast(
    ctx: typer.Context,
    hours: Annotated[
        float, setting_option("--hours", "HEADWAY_FORECAST_HOURS", "How far ahead, in hours (at most 168).")
    ] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of minutes.")] = False,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Per minute from now: scheduled tasks, compute ms and required instances.

    Counts the schedule rows in the database, so run the Scheduler first; a note on stderr
    says when part of the window has no rows yet. `headway forecast accuracy` compares past
    forecasts with what ran.
    """
    if ctx.invoked_subcommand is not None:
        return
    from engine.adapters.database import read_connection
    from engine.adapters.forecast_store import load_schedule_coverage
    from engine.services.forecast import forecast as compute_forecast

    now = utc_now()
    with database(database_url) as engine:
        series = compute_forecast(engine, now, hours, capacity_ms, buffer)
        with read_connection(engine) as connection:
            unmaterialised, covered = load_schedule_coverage(connection)
    _note_gaps(unmaterialised, covered, series[-1].minute)
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "minute": format_instant(m.minute),
                        "task_count": m.task_count,
                        "total_compute_ms": m.total_compute_ms,
                        "required_instances": m.required_instances,
                    }
                    for m in series
                ],
                indent=1,
            )
        )
        return
    peak = max((m.required_instances for m in series), default=0)
    typer.echo(f"{'minute':<21} {'tasks':>7} {'compute ms':>12} {'instances':>9}")
    for m in series:
        if m.task_count:
            typer.echo(
                f"{format_instant(m.minute):<21} {m.task_count:>7} {m.total_compute_ms:>12} "
                f"{m.required_instances:>9}"
            )
    busy = sum(1 for m in series if m.task_count)
    typer.echo(f"{len(series)} minutes, {busy} with tasks; peak {peak} instances")


app.command("accuracy")(accuracy)


def _note_gaps(unmaterialised: int, covered: datetime | None, last_minute: datetime) -> None:
    # Cron fire times fall on whole minutes, so rows reaching the last minute's start cover it.
    if unmaterialised:
        typer.echo(
            f"note: {unmaterialised} active tasks have no schedule rows yet; "
            "run `headway scheduler` (or --once) to count them",
            err=True,
        )
    if covered is not None and covered < last_minute:
        typer.echo(
            f"note: cron tasks have schedule rows up to {format_instant(covered)}; later minutes "
            "count only what is already there (the Scheduler extends them as time passes)",
            err=True,
        )
