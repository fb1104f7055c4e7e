"""`headway cron`: check an expression and list its fire times."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.commands.common import fail, format_instant, parse_instant, utc_now

app = typer.Typer(help="Cron expressions.", no_args_is_help=True)

MAX_COUNT = 10_000


@app.command("next")
def next_times(
    expression: Annotated[str, typer.Argument(help='Five-field cron, e.g. "*/15 9-17 * * mon-fri".')],
    tz: Annotated[str, typer.Option("--tz", help="IANA timezone the expression is read in.")] = "UTC",
    from_: Annotated[str | None, typer.Option("--from", help="ISO-8601 instant; default now.")] = None,
    count: Annotated[int, typer.Option("--count", help="How many fire times.")] = 5,
) -> None:
    """Print the next COUNT fire times strictly after --from, one UTC instant per line."""
    from engine.core.cron import CronError, next_fire_times, parse_schedule

    if not 1 <= count <= MAX_COUNT:
        fail(f"--count: must be between 1 and {MAX_COUNT}, got {count}")
    after = parse_instant(from_, "--from") if from_ is not None else utc_now()
    try:
        schedule = parse_schedule(expression, tz)
    except CronError as error:
        option = "--tz" if error.field == "timezone" else "EXPRESSION"
        fail(f"{option}: {error.message}")
    times = next_fire_times(schedule, after, count)
    for instant in times:
        typer.echo(format_instant(instant))
    if len(times) < count:
        typer.echo(f"note: only {len(times)} fire times before the end of the year 9999", err=True)
