"""`headway forecast`: required instances per minute from the database."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    BufferOption,
    CapacityOption,
    DatabaseUrlOption,
    format_instant,
    open_database,
    utc_now,
)


def forecast(
    hours: Annotated[float, typer.Option("--hours", min=0.02, max=168, help="How far ahead.")] = 3.0,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of minutes.")] = False,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Per minute from now: scheduled tasks, compute ms and required instances."""
    from engine.services.forecast import forecast as compute_forecast

    series = compute_forecast(open_database(database_url), utc_now(), hours, capacity_ms, buffer)
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
