"""`headway task`: add and list tasks through the same service layer as the API."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    DatabaseUrlOption,
    database,
    fail,
    format_instant,
    open_database,
    parse_instant,
    pydantic_message,
    utc_now,
)

app = typer.Typer(help="Tasks.", no_args_is_help=True)


@app.command("add")
def add(
    name: Annotated[str, typer.Option("--name", help="Task name.")],
    task_type: Annotated[str, typer.Option("--type", help="Task type (see `headway task types`).")],
    cron: Annotated[str | None, typer.Option("--cron", help="Recurring: a cron expression.")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Timezone of --cron (default UTC).")] = None,
    at: Annotated[str | None, typer.Option("--at", help="Once: ISO-8601 instant with offset.")] = None,
    now_: Annotated[bool, typer.Option("--now", help="Immediate: run as soon as possible.")] = False,
    payload: Annotated[str, typer.Option("--payload", help="JSON object passed to the handler.")] = "{}",
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Create a task: exactly one of --cron, --at or --now."""
    from pydantic import ValidationError

    from engine.services.schemas import FieldProblem, TaskInput
    from engine.services.tasks import create_task

    chosen = [flag for flag, given in (("--cron", cron), ("--at", at), ("--now", now_)) if given]
    if len(chosen) != 1:
        fail("give exactly one of --cron, --at or --now" + (f" (got {', '.join(chosen)})" if chosen else ""))
    if tz is not None and cron is None:
        fail("--tz: only goes with --cron")
    try:
        payload_value = json.loads(payload, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        fail(f"--payload: not valid JSON ({error.msg} at position {error.pos})")
    except ValueError as error:
        fail(f"--payload: {error}")
    if not isinstance(payload_value, dict):
        fail('--payload: must be a JSON object, e.g. \'{"url": "https://example.org"}\'')
    fields: dict[str, Any] = {"name": name, "task_type": task_type, "payload": payload_value}
    if cron is not None:
        fields |= {"kind": "cron", "cron_expression": cron, "timezone": tz or "UTC"}
    elif at is not None:
        fields |= {"kind": "once", "run_at": parse_instant(at, "--at")}
    else:
        fields |= {"kind": "immediate"}
    try:
        spec = TaskInput.model_validate(fields)
    except ValidationError as error:
        fail("; ".join(describe_validation_error(item) for item in error.errors()))
    with database(database_url) as engine:
        try:
            task = create_task(engine, spec, utc_now())
        except FieldProblem as problem:
            fail(f"{problem.field}: {problem.message}")
    typer.echo(f"created task {task.id} ({task.name})")


def _refuse_constant(name: str) -> Any:
    # Python's parser accepts NaN and Infinity; JSON has neither, nor can the databases keep them.
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text} is too large to store")
    return value


def describe_validation_error(item: Any) -> str:
    field = ".".join(str(part) for part in item["loc"]) or "task"
    return f"{field}: {pydantic_message(item)}"


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
        items = [
            {
                "id": task.id,
                "name": task.name,
                "task_type": task.task_type,
                "kind": task.kind.value,
                "cron_expression": task.cron_expression,
                "timezone": task.timezone,
                "run_at": _instant_or_none(task.run_at),
                "payload": task.payload,
                "active": task.active,
                "created_at": format_instant(task.created_at),
                "updated_at": format_instant(task.updated_at),
                "next_run": _instant_or_none(task.next_run),
                "last_run_status": task.last_run_status,
                "last_run_at": _instant_or_none(task.last_run_at),
            }
            for task in page.items
        ]
        typer.echo(json.dumps({"items": items, "total": page.total}, indent=2))
        return
    typer.echo(f"{'id':>6}  {'name':<24} {'type':<13} {'kind':<9} {'active':<6} {'schedule':<22} next run")
    for task in page.items:
        when = (
            task.cron_expression
            and f"{task.cron_expression} {task.timezone}"
            or (format_instant(task.run_at) if task.run_at else "now")
        )
        next_run = format_instant(task.next_run) if task.next_run else "-"
        typer.echo(
            f"{task.id:>6}  {task.name[:24]:<24} {task.task_type:<13} {task.kind.value:<9} "
            f"{'yes' if task.active else 'no':<6} {when[:22]:<22} {next_run}"
        )
    typer.echo(f"{len(page.items)} of {page.total} tasks")


def _instant_or_none(instant: datetime | None) -> str | None:
    return format_instant(instant) if instant is not None else None


@app.command("types")
def types(database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL) -> None:
    """List task types."""
    from engine.services.task_types import list_task_types

    for row in list_task_types(open_database(database_url)):
        typer.echo(
            f"{row.name:<14} handler={row.handler:<13} expected={row.expected_duration_ms} ms "
            f"timeout={row.timeout_ms} ms attempts={row.max_attempts}  {row.description}"
        )
