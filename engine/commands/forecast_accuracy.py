"""`headway forecast accuracy`: what the forecast said at 180, 60 and 10 minutes ahead against
what ran, per lead, per type and per minute."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    BufferOption,
    CapacityOption,
    DatabaseUrlOption,
    format_instant,
)

if TYPE_CHECKING:
    from engine.services.forecast_accuracy import AccuracyReport

MAX_HOURS = 24 * 31


def accuracy(
    hours: Annotated[
        float,
        typer.Option(
            "--hours",
            help="Minutes that ended in the last this many hours (at most 744).",
            envvar="HEADWAY_ACCURACY_HOURS",
        ),
    ] = 24.0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Forecast against actual: tasks, compute and instances per minute at each lead time.

    The Scheduler records the forecast of each minute 180, 60 and 10 minutes before it; this
    compares those snapshots with the runs of the tasks due in the minute (compute used, and
    the instances that compute needs by the formula)."""
    from engine.commands.common import database, utc_now
    from engine.services.forecast_accuracy import accuracy_document, accuracy_report

    if not (math.isfinite(hours) and 0 < hours <= MAX_HOURS):
        typer.echo(f"error: --hours: must be in (0, {MAX_HOURS}], got {hours}", err=True)
        raise typer.Exit(2)
    with database(database_url) as engine:
        report = accuracy_report(engine, utc_now(), hours, capacity_ms, buffer)
    if as_json:
        typer.echo(json.dumps(accuracy_document(report)))
        return
    typer.echo(format_report(report))


def format_report(report: AccuracyReport) -> str:
    lines = [f"Minutes {format_instant(report.start)} to {format_instant(report.end)} (end excluded)"]
    if not report.leads:
        lines.append(
            "no forecast snapshots in this window: the Scheduler records them as it runs "
            "(`headway scheduler`)"
        )
        return "\n".join(lines)
    lines.append(
        f"{'lead min':>8} {'minutes':>8} {'task MAE':>9} {'compute MAE ms':>15} {'bias ms':>10} "
        f"{'error %':>8} {'inst MAE':>9} {'inst bias':>9} {'under':>6}"
    )
    for lead in report.leads:
        lines.append(
            f"{lead.lead_minutes:>8} {lead.minutes:>8} {lead.task_mae:>9.2f} {lead.compute_mae_ms:>15.0f} "
            f"{lead.compute_bias_ms:>10.0f} {lead.compute_error_pct:>8.1f} {lead.instance_mae:>9.2f} "
            f"{lead.instance_bias:>9.2f} {lead.under_forecast_minutes:>6}"
        )
    worst = sorted(report.types, key=lambda row: -row.compute_abs_error_ms)[:5]
    if worst:
        lines.append("largest misses by type (lead, type, forecast ms, actual ms, |error| ms):")
        for row in worst:
            lines.append(
                f"  {row.lead_minutes:>4} {row.task_type:<20} {row.forecast.compute_ms:>12} "
                f"{row.actual.compute_ms:>12} {row.compute_abs_error_ms:>12}"
            )
    return "\n".join(lines)
