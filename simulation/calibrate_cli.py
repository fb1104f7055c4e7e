"""`headway calibrate`: what the recorded runs say about dispatch and each task type.

Only typer and the shared options load with the module, so `headway --help` stays instant.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from engine.commands.common import DEFAULT_DATABASE_URL, DatabaseUrlOption

DEFAULT_CALIBRATE_HOURS = 168.0

CalibrateHoursOption = Annotated[
    float,
    typer.Option(
        "--hours",
        help="Runs started this many hours before now (default a week).",
        envvar="HEADWAY_CALIBRATE_HOURS",
    ),
]


def check_hours(hours: float) -> float:
    """`hours` if it is a positive finite number of at most a year; else exit 2 naming it."""
    import math

    if not (math.isfinite(hours) and 0 < hours <= 24 * 366):
        typer.echo(f"error: --hours: must be in (0, 8,784], got {hours}", err=True)
        raise typer.Exit(2)
    return hours


def calibrate(
    hours: CalibrateHoursOption = DEFAULT_CALIBRATE_HOURS,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Estimate the simulator's parameters from recorded runs: the distributor's release
    delay, the dispatch overhead, and per task type a duration model (fixed, exponential,
    lognormal or empirical), the failure probability and the attempts per run.
    `headway simulate --calibrate` uses them."""
    from engine.commands.common import database, utc_now
    from simulation.calibrate_db import calibrate as run_calibration
    from simulation.calibrate_db import format_calibration

    check_hours(hours)
    with database(database_url) as engine:
        calibration = run_calibration(engine, utc_now(), hours)
    if as_json:
        typer.echo(json.dumps(calibration.to_json()))
    else:
        typer.echo(format_calibration(calibration))
