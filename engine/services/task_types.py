"""Task types: what a task's `task_type` may name. Read, created and edited here, the one
place the API, the CLI and the dashboard go through. Every write is one transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from engine.adapters.database import read_connection
from engine.adapters.tables import task_types
from engine.services.schemas import FieldProblem, TaskTypeDefinition, TaskTypeInput
from engine.services.validation import field_problems


class TaskTypeNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"task type {name!r} not found")
        self.name = name


class TaskTypeExists(RuntimeError):
    def __init__(self, name: str) -> None:
        super().__init__(f"task type {name!r} already exists")
        self.name = name


@dataclass(frozen=True, slots=True)
class TaskType:
    name: str
    description: str
    handler: str
    expected_duration_ms: int
    timeout_ms: int
    max_attempts: int
    config: dict[str, Any] = field(default_factory=dict)


_COLUMNS = (
    task_types.c.name,
    task_types.c.description,
    task_types.c.handler,
    task_types.c.expected_duration_ms,
    task_types.c.timeout_ms,
    task_types.c.max_attempts,
    task_types.c.config,
)


def list_task_types(engine: Engine) -> list[TaskType]:
    """Every task type, by name."""
    with read_connection(engine) as connection:
        return [TaskType(**row) for row in connection.execute(select(*_COLUMNS).order_by("name")).mappings()]


def get_task_type(engine: Engine, name: str) -> TaskType:
    with read_connection(engine) as connection:
        return _get(connection, name)


def create_task_type(engine: Engine, spec: TaskTypeInput, handlers: Collection[str]) -> TaskType:
    """Store a new task type. `handlers` are the registered handler names (see
    `engine.adapters.handlers.registered_handler_names`); FieldProblem on `handler` if the
    spec names another, TaskTypeExists if the name is taken."""
    _check_handler(spec.handler, handlers)
    try:
        with engine.begin() as connection:
            if _exists(connection, spec.name):
                raise TaskTypeExists(spec.name)
            connection.execute(insert(task_types).values(**spec.model_dump()))
            return _get(connection, spec.name)
    except IntegrityError:
        # Another writer stored the same name between our look and our insert.
        if _exists_now(engine, spec.name):
            raise TaskTypeExists(spec.name) from None
        raise


def replace_task_type(
    engine: Engine, name: str, spec: TaskTypeDefinition, handlers: Collection[str]
) -> TaskType:
    """Replace a task type's definition (the name stays). The handler is checked against
    `handlers` only when it changes: a type whose plug-in is installed where the processors
    run, but not here, can still have its timeout edited."""
    with engine.begin() as connection:
        current = _get(connection, name, lock=True)
        if spec.handler != current.handler:
            _check_handler(spec.handler, handlers)
        connection.execute(update(task_types).where(task_types.c.name == name).values(**spec.model_dump()))
        return _get(connection, name)


def edit_task_type(
    engine: Engine,
    name: str,
    changes: Mapping[str, Any],
    handlers: Collection[str],
    config_updates: Mapping[str, Any] | None = None,
) -> TaskType:
    """Change only the fields in `changes` (a `TaskTypeDefinition` field -> value mapping);
    the rest keep their stored values. `config` in `changes` replaces the whole config;
    `config_updates` then sets single keys of it (the retry settings, say).

    Example: `edit_task_type(engine, "http", {"timeout_ms": 5_000}, names,
    {"retry_max_ms": 60_000})` keeps the handler, durations, attempts and other config keys
    of `http`, sets its timeout to 5 s and caps its backoff at a minute.
    """
    with engine.begin() as connection:
        current = _get(connection, name, lock=True)
        merged = {key: value for key, value in vars_of(current).items() if key != "name"} | dict(changes)
        merged["config"] = dict(merged["config"]) | dict(config_updates or {})
        try:
            spec = TaskTypeDefinition.model_validate(merged)
        except ValidationError as error:
            raise field_problems(error)[0] from None
        if spec.handler != current.handler:
            _check_handler(spec.handler, handlers)
        connection.execute(update(task_types).where(task_types.c.name == name).values(**spec.model_dump()))
        return _get(connection, name)


def vars_of(task_type: TaskType) -> dict[str, Any]:
    """The task type as a field -> value mapping (what `--json` prints)."""
    return {column.name: getattr(task_type, column.name) for column in _COLUMNS}


def _check_handler(handler: str, handlers: Collection[str]) -> None:
    if handler not in handlers:
        known = ", ".join(sorted(handlers))
        raise FieldProblem("handler", f"no handler named {handler!r} is registered (registered: {known})")


def _get(connection: Connection, name: str, lock: bool = False) -> TaskType:
    query = select(*_COLUMNS).where(task_types.c.name == name)
    if lock and connection.dialect.name == "postgresql":
        query = query.with_for_update()
    row = connection.execute(query).mappings().first()
    if row is None:
        raise TaskTypeNotFound(name)
    return TaskType(**row)


def _exists(connection: Connection, name: str) -> bool:
    return connection.execute(select(task_types.c.name).where(task_types.c.name == name)).first() is not None


def _exists_now(engine: Engine, name: str) -> bool:
    with read_connection(engine) as connection:
        return _exists(connection, name)
