"""`headway task-type list|add|edit`: the task types tasks can use, through the service layer
the API uses. A type's handler must be registered: a built-in or a `headway.handlers` entry
point installed where this command runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from engine.commands.common import DEFAULT_DATABASE_URL, DatabaseUrlOption, database, fail
from engine.commands.task_common import (
    JsonOption,
    describe_validation_error,
    echo_json,
    parse_json_object,
    refusals,
)

app = typer.Typer(
    help="Task types: handler, expected duration, timeout, attempts, retry, config.", no_args_is_help=True
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="Task type name, e.g. invoice.")]
DescriptionOption = Annotated[str | None, typer.Option("--description", help="What the type does.")]
HandlerOption = Annotated[
    str | None,
    typer.Option("--handler", help="Registered handler: http, reminder, notification, noop or a plug-in."),
]
ExpectedOption = Annotated[
    int | None,
    typer.Option(
        "--expected-duration-ms", help="Duration capacity planning assumes until runs are measured."
    ),
]
TimeoutOption = Annotated[
    int | None, typer.Option("--timeout-ms", help="Longest one attempt may take. [add: 30000]")
]
AttemptsOption = Annotated[
    int | None, typer.Option("--max-attempts", help="Attempts in all, the first included. [add: 3]")
]
RetryBaseOption = Annotated[
    int | None,
    typer.Option("--retry-base-ms", help="Backoff before the 2nd attempt, doubling after (config)."),
]
RetryMaxOption = Annotated[int | None, typer.Option("--retry-max-ms", help="Longest backoff (config).")]
ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config", help='JSON object for the handler, e.g. \'{"url": "https://hooks.example.org"}\'.'
    ),
]

DEFAULT_TIMEOUT_MS = 30_000
DEFAULT_MAX_ATTEMPTS = 3


@app.command("list")
def list_(as_json: JsonOption = False, database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL) -> None:
    """Every task type, by name."""
    from engine.services.task_types import list_task_types, vars_of

    with database(database_url) as engine:
        rows = list_task_types(engine)
    if as_json:
        echo_json([vars_of(row) for row in rows])
        return
    for row in rows:
        retry = {key: row.config[key] for key in ("retry_base_ms", "retry_max_ms") if key in row.config}
        typer.echo(
            f"{row.name:<14} handler={row.handler:<13} expected={row.expected_duration_ms} ms "
            f"timeout={row.timeout_ms} ms attempts={row.max_attempts}"
            + "".join(f" {key}={value}" for key, value in retry.items())
            + (f"  {row.description}" if row.description else "")
        )


@app.command("add")
def add(
    name: NameArgument,
    handler: HandlerOption = None,
    expected_duration_ms: ExpectedOption = None,
    timeout_ms: TimeoutOption = None,
    max_attempts: AttemptsOption = None,
    retry_base_ms: RetryBaseOption = None,
    retry_max_ms: RetryMaxOption = None,
    config: ConfigOption = None,
    description: DescriptionOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Create a task type: NAME, --handler and --expected-duration-ms at least."""
    from pydantic import ValidationError

    from engine.adapters.handlers import registered_handler_names
    from engine.services.schemas import TaskTypeInput
    from engine.services.task_types import create_task_type, vars_of

    for flag, value in (("--handler", handler), ("--expected-duration-ms", expected_duration_ms)):
        if value is None:
            fail(f"{flag}: required")
    fields: dict[str, Any] = {
        "name": name,
        "description": description or "",
        "handler": handler,
        "expected_duration_ms": expected_duration_ms,
        "timeout_ms": DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms,
        "max_attempts": DEFAULT_MAX_ATTEMPTS if max_attempts is None else max_attempts,
        "config": _config(config, retry_base_ms, retry_max_ms),
    }
    try:
        spec = TaskTypeInput.model_validate(fields)
    except ValidationError as error:
        fail(describe_validation_error(error.errors()[0]))
    with database(database_url) as engine, refusals():
        created = create_task_type(engine, spec, registered_handler_names())
    if as_json:
        echo_json(vars_of(created))
    else:
        typer.echo(f"created task type {created.name} (handler {created.handler})")


@app.command("edit")
def edit(
    name: NameArgument,
    handler: HandlerOption = None,
    expected_duration_ms: ExpectedOption = None,
    timeout_ms: TimeoutOption = None,
    max_attempts: AttemptsOption = None,
    retry_base_ms: RetryBaseOption = None,
    retry_max_ms: RetryMaxOption = None,
    config: ConfigOption = None,
    description: DescriptionOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Change a task type: what is given changes, the rest stays.

    --config replaces the whole config (the retry options are then applied to it);
    --retry-base-ms and --retry-max-ms alone change only those keys. A changed handler must be
    registered here."""
    from engine.adapters.handlers import registered_handler_names
    from engine.services.task_types import edit_task_type, vars_of

    changes: dict[str, Any] = {
        key: value
        for key, value in (
            ("description", description),
            ("handler", handler),
            ("expected_duration_ms", expected_duration_ms),
            ("timeout_ms", timeout_ms),
            ("max_attempts", max_attempts),
        )
        if value is not None
    }
    retry = {
        key: value
        for key, value in (("retry_base_ms", retry_base_ms), ("retry_max_ms", retry_max_ms))
        if value is not None
    }
    if config is not None:
        changes["config"] = parse_json_object(config, "--config")
    if not changes and not retry:
        fail(
            "nothing to change: give --handler, --expected-duration-ms, --timeout-ms, --max-attempts, "
            "--retry-base-ms, --retry-max-ms, --config or --description"
        )
    with database(database_url) as engine, refusals():
        edited = edit_task_type(engine, name, changes, registered_handler_names(), retry)
    if as_json:
        echo_json(vars_of(edited))
    else:
        typer.echo(f"updated task type {edited.name} (handler {edited.handler})")


def _config(text: str | None, retry_base_ms: int | None, retry_max_ms: int | None) -> dict[str, Any]:
    config = parse_json_object(text, "--config") if text is not None else {}
    for key, value in (("retry_base_ms", retry_base_ms), ("retry_max_ms", retry_max_ms)):
        if value is not None:
            config[key] = value
    return config
