"""`headway task show|runs|run|activate|deactivate ID`: one task, read or acted on through
the service layer the API uses (registered on the `task` app in `engine.commands.task`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    DatabaseUrlOption,
    database,
    fail,
    format_instant,
    utc_now,
)
from engine.commands.task_common import (
    JsonOption,
    TaskIdArgument,
    echo_json,
    echo_runs,
    parse_task_id,
    policies_text,
    refusals,
    run_json,
    schedule_text,
    task_json,
)

NEXT_RUN_COUNT = 5
LAST_RUN_COUNT = 5
MAX_RUNS_LIMIT = 500


def show(
    task_id: TaskIdArgument,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Show a task: its fields, next 5 runs and last 5 attempts.

    The next runs come from the schedule itself, not only from the rows already planned."""
    from engine.services.runs import list_runs
    from engine.services.tasks import get_task, next_runs

    identifier = parse_task_id(task_id)
    now = utc_now()
    with database(database_url) as engine, refusals():
        task = get_task(engine, identifier, now)
        last = list_runs(engine, identifier, limit=LAST_RUN_COUNT)
    upcoming = next_runs(task, now, NEXT_RUN_COUNT)
    if as_json:
        echo_json(
            task_json(task)
            | {
                "next_runs": [format_instant(instant) for instant in upcoming],
                "last_runs": [run_json(run) for run in last.items],
                "run_count": last.total,
            }
        )
        return
    typer.echo(f"task {task.id}: {task.name}")
    for label, value in (
        ("type", task.task_type),
        ("kind", task.kind.value),
        ("schedule", schedule_text(task)),
        ("active", "yes" if task.active else "no"),
        ("policies", policies_text(task)),
        ("payload", json.dumps(task.payload)),
        ("created", format_instant(task.created_at)),
        ("updated", format_instant(task.updated_at)),
    ):
        typer.echo(f"  {label:<9} {value}")
    if task.dependents:
        typer.echo(f"  followed  by tasks {', '.join(str(i) for i in task.dependents)} (after)")
    for warning in task.warnings:
        typer.echo(f"  warning   {warning}")
    typer.echo("next runs:" if upcoming else "next runs: none")
    for instant in upcoming:
        typer.echo(f"  {format_instant(instant)}")
    if not last.items:
        typer.echo("last runs: none")
        return
    typer.echo(f"last runs ({len(last.items)} of {last.total}):")
    echo_runs(last.items)


def runs(
    task_id: TaskIdArgument,
    limit: Annotated[
        int, typer.Option("--limit", help=f"Most attempts to show (1 to {MAX_RUNS_LIMIT}).")
    ] = 20,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """List a task's attempts, latest first.

    Each with its start, attempt number, status, outcome, elapsed time and error excerpt."""
    from engine.services.runs import list_runs

    identifier = parse_task_id(task_id)
    if not 1 <= limit <= MAX_RUNS_LIMIT:
        fail(f"--limit: must be between 1 and {MAX_RUNS_LIMIT}, got {limit}")
    with database(database_url) as engine, refusals():
        page = list_runs(engine, identifier, limit=limit)
    if as_json:
        echo_json({"items": [run_json(run) for run in page.items], "total": page.total})
        return
    echo_runs(page.items)
    if page.items:
        typer.echo(f"{len(page.items)} of {page.total} attempts")


def run(
    task_id: TaskIdArgument,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Run an active task now, once, besides its schedule.

    As `POST /tasks/ID/run`: a running `headway up` or distributor picks the run up."""
    from engine.services.tasks import run_now

    identifier = parse_task_id(task_id)
    now = utc_now()
    with database(database_url) as engine, refusals():
        schedule_id = run_now(engine, identifier, now)
    if as_json:
        echo_json({"schedule_id": schedule_id, "task_id": identifier, "scheduled_time": format_instant(now)})
    else:
        typer.echo(f"task {identifier}: run requested for {format_instant(now)} (schedule row {schedule_id})")


def activate(
    task_id: TaskIdArgument,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Schedule an inactive task again.

    A cron task from its next fire time on (runs missed while inactive are not made up), an
    immediate task once more, a once task at its time, which must still be ahead."""
    _switch(task_id, True, as_json, database_url)


def deactivate(
    task_id: TaskIdArgument,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Stop scheduling a task.

    Its planned runs are removed; runs already queued or running finish; its history stays."""
    _switch(task_id, False, as_json, database_url)


def _switch(task_id: str, active: bool, as_json: bool, database_url: str) -> None:
    from engine.services.tasks import set_active, set_inactive

    identifier = parse_task_id(task_id)
    with database(database_url) as engine, refusals():
        task = (set_active if active else set_inactive)(engine, identifier, utc_now())
    if as_json:
        echo_json(task_json(task))
    else:
        typer.echo(f"task {task.id} ({task.name}) is {'active' if active else 'inactive'}")
        for warning in task.warnings:
            typer.echo(f"warning: {warning}", err=True)
