"""`headway task`: add, edit, list and look at tasks through the same service layer as the
API. Reading one task and acting on it (show, runs, run, activate, deactivate) live in
`engine.commands.task_actions`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from engine.commands import task_actions, task_type
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
    describe_validation_error,
    echo_json,
    parse_json_object,
    parse_task_id,
    policy_fields,
    refusals,
    schedule_fields,
    schedule_text,
    task_json,
)

app = typer.Typer(help="Tasks.", no_args_is_help=True)

NameOption = Annotated[str | None, typer.Option("--name", help="Task name.")]
TypeOption = Annotated[str | None, typer.Option("--type", help="Task type (see `headway task-type list`).")]
CronOption = Annotated[str | None, typer.Option("--cron", help="Recurring: a cron expression.")]
TzOption = Annotated[str | None, typer.Option("--tz", help="Timezone of --cron (default UTC).")]
AtOption = Annotated[
    str | None,
    typer.Option("--at", help="Once: ISO-8601 instant with offset, or a span from now such as +2h."),
]
NowOption = Annotated[bool, typer.Option("--now", help="Immediate: run as soon as possible.")]
AfterOption = Annotated[
    int | None,
    typer.Option(
        "--after",
        help="After: run after each run of this task (by id) that ends as --on says; no schedule "
        "of its own. See docs/scheduling.md.",
    ),
]
OnOption = Annotated[
    str | None,
    typer.Option(
        "--on",
        help="With --after: success (its run succeeded, the default) or finished (it ended for good: "
        "succeeded, failed or dead).",
    ),
]
PayloadOption = Annotated[str | None, typer.Option("--payload", help="JSON object passed to the handler.")]
OverlapOption = Annotated[
    str | None,
    typer.Option(
        "--overlap",
        help="Cron: a fire time due while an earlier run is queued or running: allow (run it too, "
        "the default), skip (record it Skipped) or queue (run it after). See docs/scheduling.md.",
    ),
]
MisfireOption = Annotated[
    str | None,
    typer.Option(
        "--misfire",
        help="Cron: fire times later than --misfire-grace when first seen: run_all (the default), "
        "run_latest (run the latest once) or skip_missed.",
    ),
]
GraceOption = Annotated[
    int | None,
    typer.Option("--misfire-grace", help="Seconds late before a fire time counts as missed (default 60)."),
]
OrderingKeyOption = Annotated[
    str | None,
    typer.Option("--ordering-key", help="Tasks sharing this key start one at a time, in scheduled order."),
]
TimeoutOption = Annotated[
    int | None, typer.Option("--timeout", help="Seconds an attempt may take (default: the task type's).")
]
AttemptsOption = Annotated[
    int | None,
    typer.Option("--max-attempts", help="Attempts before a dead letter (default: the task type's)."),
]


@app.command("add")
def add(
    name: NameOption = None,
    task_type: TypeOption = None,
    cron: CronOption = None,
    tz: TzOption = None,
    at: AtOption = None,
    now_: NowOption = False,
    after: AfterOption = None,
    on: OnOption = None,
    payload: PayloadOption = None,
    overlap: OverlapOption = None,
    misfire: MisfireOption = None,
    misfire_grace: GraceOption = None,
    timeout: TimeoutOption = None,
    max_attempts: AttemptsOption = None,
    ordering_key: OrderingKeyOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Create a task: --name, --type and exactly one of --cron, --at, --now or --after."""
    from pydantic import ValidationError

    from engine.services.schemas import TaskInput
    from engine.services.tasks import create_task

    for flag, value in (("--name", name), ("--type", task_type)):
        if value is None:
            fail(f"{flag}: required")
    fields: dict[str, Any] = {
        "name": name,
        "task_type": task_type,
        "payload": parse_json_object(payload if payload is not None else "{}", "--payload"),
    }
    fields |= schedule_fields(cron, tz, at, now_, required=True, after=after, on=on)
    fields |= policy_fields(
        {
            "overlap_policy": overlap,
            "misfire_policy": misfire,
            "misfire_grace_s": misfire_grace,
            "timeout_s": timeout,
            "max_attempts": max_attempts,
            "ordering_key": ordering_key,
        }
    )
    try:
        spec = TaskInput.model_validate(fields)
    except ValidationError as error:
        fail("; ".join(describe_validation_error(item) for item in error.errors()))
    with database(database_url) as engine, refusals():
        task = create_task(engine, spec, utc_now())
    if as_json:
        echo_json(task_json(task))
    else:
        typer.echo(f"created task {task.id} ({task.name})")
        for warning in task.warnings:
            typer.echo(f"warning: {warning}", err=True)


@app.command("edit")
def edit(
    task_id: TaskIdArgument,
    name: NameOption = None,
    task_type: TypeOption = None,
    cron: CronOption = None,
    tz: TzOption = None,
    at: AtOption = None,
    now_: NowOption = False,
    after: AfterOption = None,
    on: OnOption = None,
    payload: PayloadOption = None,
    overlap: OverlapOption = None,
    misfire: MisfireOption = None,
    misfire_grace: GraceOption = None,
    timeout: TimeoutOption = None,
    max_attempts: AttemptsOption = None,
    ordering_key: OrderingKeyOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Change a task: what is given changes, the rest stays.

    --cron, --at, --now or --after also change the kind (a cron task given --at becomes a once
    task);
    --tz alone moves a cron task to another zone. A changed schedule replaces the task's
    planned runs; a new name, type or payload does not."""
    from engine.services.tasks import edit_task

    identifier = parse_task_id(task_id)
    changes: dict[str, Any] = {
        key: value for key, value in (("name", name), ("task_type", task_type)) if value is not None
    }
    if payload is not None:
        changes["payload"] = parse_json_object(payload, "--payload")
    changes |= schedule_fields(cron, tz, at, now_, required=False, after=after, on=on)
    changes |= policy_fields(
        {
            "overlap_policy": overlap,
            "misfire_policy": misfire,
            "misfire_grace_s": misfire_grace,
            "timeout_s": timeout,
            "max_attempts": max_attempts,
            "ordering_key": ordering_key,
        }
    )
    if not changes:
        fail(
            "nothing to change: give --name, --type, --cron, --tz, --at, --now, --after, --payload, "
            "--overlap, --misfire, --misfire-grace, --timeout, --max-attempts or --ordering-key"
        )
    with database(database_url) as engine, refusals():
        task = edit_task(engine, identifier, changes, utc_now())
    if as_json:
        echo_json(task_json(task))
    else:
        typer.echo(f"updated task {task.id} ({task.name}): {task.kind.value}, {schedule_text(task)}")


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object with items and total.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """List tasks, newest first, with their next run and last outcome."""
    from engine.services.tasks import list_tasks

    with database(database_url) as engine:
        page = list_tasks(engine, limit=limit, offset=offset, now=utc_now())
    if as_json:
        echo_json({"items": [task_json(task) for task in page.items], "total": page.total})
        return
    typer.echo(f"{'id':>6}  {'name':<24} {'type':<13} {'kind':<9} {'active':<6} {'schedule':<22} next run")
    for task in page.items:
        next_run = format_instant(task.next_run) if task.next_run else "-"
        typer.echo(
            f"{task.id:>6}  {task.name[:24]:<24} {task.task_type:<13} {task.kind.value:<9} "
            f"{'yes' if task.active else 'no':<6} {schedule_text(task)[:22]:<22} {next_run}"
        )
    typer.echo(f"{len(page.items)} of {page.total} tasks")


app.command("show")(task_actions.show)
app.command("runs")(task_actions.runs)
app.command("run")(task_actions.run)
app.command("activate")(task_actions.activate)
app.command("deactivate")(task_actions.deactivate)
app.command("types", help="List task types (the same as `headway task-type list`).")(task_type.list_)
