"""What the `headway task` and `headway task-type` commands share: reading ids and JSON
options, turning the service layer's refusals into one line and an exit code, and the JSON
and text forms of tasks and runs.

Exit codes: 2 when the input cannot be accepted (a field's value, a taken name), 1 when what
it names does not exist or cannot be acted on now (an unknown id, running an inactive task).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.commands.common import fail, format_instant, parse_instant

if TYPE_CHECKING:
    from engine.services.runs import Run
    from engine.services.tasks import Task

MAX_ID = 2**63 - 1  # ids are 64-bit in both databases

TaskIdArgument = Annotated[str, typer.Argument(metavar="ID", help="Task id (see `headway task list`).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document.")]


def parse_task_id(text: str) -> int:
    """The task id given as ID; exits 2 naming ID if it is not one."""
    try:
        task_id = int(text)
    except ValueError:
        fail(f"ID: {text!r} is not a task id (a whole number from 1)")
    if not 1 <= task_id <= MAX_ID:
        fail(f"ID: {text} is not a task id (a whole number from 1 to {MAX_ID})")
    return task_id


def parse_json_object(text: str, option: str) -> dict[str, Any]:
    """`text` as a JSON object, refusing what JSON (and the databases) cannot hold."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        fail(f"{option}: not valid JSON ({error.msg} at position {error.pos})")
    except ValueError as error:
        fail(f"{option}: {error}")
    if not isinstance(value, dict):
        fail(f'{option}: must be a JSON object, e.g. \'{{"url": "https://example.org"}}\'')
    return value


def _refuse_constant(name: str) -> Any:
    # Python's parser accepts NaN and Infinity; JSON has neither, nor can the databases keep them.
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text} is too large to store")
    return value


def schedule_fields(
    cron: str | None,
    tz: str | None,
    at: str | None,
    now_: bool,
    required: bool,
    after: int | None = None,
    on: str | None = None,
) -> dict[str, Any]:
    """The `TaskInput` fields that --cron/--tz, --at, --now or --after/--on stand for. With
    `required` (task add) exactly one of the four is needed, --tz only goes with --cron and
    --on with --after; otherwise (task edit) at most one, and --tz alone moves a cron task to
    another zone."""
    given = (("--cron", cron), ("--at", at), ("--now", now_), ("--after", after is not None))
    chosen = [flag for flag, value in given if value]
    if len(chosen) > 1 or (required and not chosen):
        wanted = "exactly one" if required else "at most one"
        listed = f" (got {', '.join(chosen)})" if chosen else ""
        fail(f"give {wanted} of --cron, --at, --now or --after{listed}")
    if tz is not None and cron is None and (required or chosen):
        fail("--tz: only goes with --cron")
    if on is not None and after is None:
        fail("--on: only goes with --after")
    if after is not None:
        return {"kind": "after", "after": {"task_id": after, "on": on or "success"}}
    if cron is not None:
        return {"kind": "cron", "cron_expression": cron} | ({"timezone": tz} if tz is not None else {})
    if at is not None:
        return {"kind": "once", "run_at": parse_instant(at, "--at")}
    if now_:
        return {"kind": "immediate"}
    return {"timezone": tz} if tz is not None else {}


def policy_fields(given: dict[str, Any]) -> dict[str, Any]:
    """The `TaskInput` fields of the policy and override options given (--overlap, --misfire,
    --misfire-grace, --timeout, --max-attempts, --ordering-key), by field name; the service checks their
    values and combinations and names the field."""
    return {field: value for field, value in given.items() if value is not None}


@contextmanager
def refusals() -> Iterator[None]:
    """Turn the services' refusals into one line on stderr and the exit code above."""
    from engine.services.schemas import FieldProblem
    from engine.services.task_types import TaskTypeExists, TaskTypeNotFound
    from engine.services.tasks import TaskInactive, TaskNotFound

    try:
        yield
    except FieldProblem as problem:
        fail(f"{problem.field}: {problem.message}")
    except TaskTypeExists as error:
        fail(f"name: {error}")
    except TaskInactive as error:
        fail(f"{error} (`headway task activate {error.task_id}`)", code=1)
    except (TaskNotFound, TaskTypeNotFound) as error:
        fail(str(error), code=1)


def describe_validation_error(item: Any) -> str:
    from engine.commands.common import pydantic_message

    field = ".".join(str(part) for part in item["loc"]) or "task"
    return f"{field}: {pydantic_message(item)}"


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2))


def instant_or_none(instant: datetime | None) -> str | None:
    return format_instant(instant) if instant is not None else None


def task_json(task: Task) -> dict[str, Any]:
    """A task as `--json` prints it: every field, instants as `2026-01-01T09:00:00Z`."""
    return {
        "id": task.id,
        "name": task.name,
        "task_type": task.task_type,
        "kind": task.kind.value,
        "cron_expression": task.cron_expression,
        "timezone": task.timezone,
        "run_at": instant_or_none(task.run_at),
        "payload": task.payload,
        "active": task.active,
        "created_at": format_instant(task.created_at),
        "updated_at": format_instant(task.updated_at),
        "next_run": instant_or_none(task.next_run),
        "last_run_status": task.last_run_status,
        "last_run_at": instant_or_none(task.last_run_at),
        "overlap_policy": task.overlap_policy.value,
        "misfire_policy": task.misfire_policy.value,
        "misfire_grace_s": task.misfire_grace_s,
        "timeout_s": task.timeout_s,
        "max_attempts": task.max_attempts,
        "ordering_key": task.ordering_key,
        "after": None if task.after is None else {"task_id": task.after.task_id, "on": task.after.on.value},
        "warnings": list(task.warnings),
        "dependents": list(task.dependents),
    }


def run_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "schedule_id": run.schedule_id,
        "attempt": run.attempt,
        "status": run.status,
        "outcome": run.outcome,
        "started_at": format_instant(run.started_at),
        "finished_at": instant_or_none(run.finished_at),
        "elapsed_ms": run.elapsed_ms,
        "output_excerpt": run.output_excerpt,
        "error": run.error,
    }


def schedule_text(task: Task) -> str:
    """`30 2 * * * Europe/Berlin`, the once task's `2026-...Z`, `after 7 (success)`, or `now`."""
    if task.after is not None:
        return f"after {task.after.task_id} ({task.after.on.value})"
    if task.cron_expression is not None:
        return f"{task.cron_expression} {task.timezone}"
    if task.run_at is not None:
        return format_instant(task.run_at)
    return "now"


def policies_text(task: Task) -> str:
    """`overlap skip, misfire run_latest (grace 30 s), timeout 5 s`: the grace only when it
    applies, the overrides only when set."""
    text = f"overlap {task.overlap_policy.value}, misfire {task.misfire_policy.value}"
    if task.misfire_policy.value != "run_all":
        grace = task.misfire_grace_s if task.misfire_grace_s is not None else "default"
        text += f" (grace {grace} s)" if grace != "default" else " (grace 60 s, the default)"
    if task.timeout_s is not None:
        text += f", timeout {task.timeout_s} s"
    if task.max_attempts is not None:
        text += f", max attempts {task.max_attempts}"
    if task.ordering_key is not None:
        text += f", ordering key {task.ordering_key!r}"
    return text


def echo_runs(runs: list[Run]) -> None:
    """One line per attempt: started, attempt, status, outcome, elapsed, error excerpt."""
    if not runs:
        typer.echo("no attempts yet")
        return
    typer.echo(f"{'started':<20}  {'attempt':>7}  {'status':<9}  {'outcome':<19}  {'elapsed':>9}  error")
    for run in runs:
        elapsed = f"{run.elapsed_ms} ms" if run.elapsed_ms is not None else "-"
        error = " ".join((run.error or "").split())
        typer.echo(
            f"{format_instant(run.started_at):<20}  {run.attempt:>7}  {run.status:<9}  "
            f"{(run.outcome or '-')[:19]:<19}  {elapsed:>9}  {error[:60]}"
        )
