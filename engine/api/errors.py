"""How failures become responses: every client mistake a 4xx that names the field, never a
500. The 422 body keeps FastAPI's shape: `{"detail": [{"loc", "msg", "type"}]}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from engine.api.models import ErrorMessage
from engine.ports import BrokerUnavailable
from engine.services.dead_letters import DeadLetterNotFound, NotADeadLetter
from engine.services.schemas import FieldProblem
from engine.services.task_types import TaskTypeExists, TaskTypeNotFound
from engine.services.tasks import TaskInactive, TaskNotFound

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorMessage, "description": "Unknown id"}}
INACTIVE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorMessage, "description": "The task is inactive"}
}
DUPLICATE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorMessage, "description": "The name is taken"}
}
NOT_DEAD_LETTER: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorMessage, "description": "An id names no schedule row; nothing was changed"},
    409: {
        "model": ErrorMessage,
        "description": "A row is not a dead letter (or discarded); nothing was changed",
    },
    503: {"model": ErrorMessage, "description": "The broker (or the database) is unavailable"},
}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "The body could not be parsed"},
    413: {"model": ErrorMessage, "description": "The body is larger than 1 MiB"},
}
UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage, "description": "Missing or wrong bearer token"}
}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(FieldProblem, _field_problem)
    app.add_exception_handler(TaskNotFound, _not_found)
    app.add_exception_handler(TaskInactive, _conflict)
    app.add_exception_handler(TaskTypeNotFound, _not_found)
    app.add_exception_handler(TaskTypeExists, _conflict)
    app.add_exception_handler(DeadLetterNotFound, _not_found)
    app.add_exception_handler(NotADeadLetter, _conflict)
    app.add_exception_handler(BrokerUnavailable, _broker_unavailable)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)


def problem(loc: list[str | int], message: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": [_printable(part) for part in loc], "msg": _printable(message), "type": kind}


def _printable(value: Any) -> Any:
    # Client text can hold lone surrogates (JSON "\ud800"), which no UTF-8 response can carry.
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


async def _invalid_request(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # Only loc, msg and type: echoing the input back could repeat a megabyte, or a NaN that
    # JSON cannot encode.
    details = [problem(list(item["loc"]), str(item["msg"]), str(item["type"])) for item in error.errors()]
    return JSONResponse({"detail": details}, status_code=422)


async def _field_problem(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, FieldProblem)
    return JSONResponse({"detail": [problem(["body", error.field], error.message)]}, status_code=422)


async def _not_found(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=404)


async def _conflict(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=409)


async def _database_unavailable(_request: Request, error: Exception) -> JSONResponse:
    # Down, restarting, timed out or every pooled connection busy: the server's trouble,
    # reported as such, and retryable.
    orig = getattr(error, "orig", None) or error
    return JSONResponse(
        {"detail": f"database unavailable ({type(orig).__name__})"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _broker_unavailable(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": f"broker unavailable: {error}"}, status_code=503, headers={"Retry-After": "5"}
    )
