"""The FastAPI application: `create_app(...)` wires the database, the broker probe, the
token check and one router per resource. Handlers call `engine.services`, like the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy import Engine

from engine.adapters.database import create_db_engine
from engine.api.auth import BearerTokenMiddleware, bearer_scheme
from engine.api.deps import ApiContext, ScalingDefaults
from engine.api.errors import UNAUTHORIZED, install_error_handlers
from engine.api.routes import (
    capacity,
    dead_letters,
    forecast_accuracy,
    health,
    metrics,
    scaling,
    task_types,
    tasks,
)
from engine.settings import Settings, normalize_database_url

# Bodies are small JSON objects; anything larger is refused with 413 before it is read in full.
MAX_BODY_BYTES = 1024 * 1024
PUBLIC_PATHS = frozenset({"/health", "/livez", "/readyz"})

# A request must not hang on the database: waiting for a pooled connection, connecting,
# waiting for a row lock (a Scheduler pass holds them briefly) and running a statement are
# each bounded; past a bound the request is a 503.
PG_POOL_SIZE = 10
PG_POOL_TIMEOUT_S = 10
PG_CONNECT_TIMEOUT_S = 5
PG_LOCK_TIMEOUT_MS = 5_000
PG_STATEMENT_TIMEOUT_MS = 15_000


def create_app(
    database: str | Engine | None = None,
    broker_url: str | None = None,
    token: str | None = None,
    *,
    settings: Settings | None = None,
    clock: Callable[[], datetime] | None = None,
    scaling_defaults: ScalingDefaults | None = None,
) -> FastAPI:
    """The API over `database` (a URL, or an Engine the caller owns and disposes).

    Whatever is not given comes from `settings` (by default the `HEADWAY_*` environment):
    `create_app()` is what `uvicorn --factory engine.api.app:create_app` serves, and the
    embedded mode passes its own engine. An empty token means no token. `clock` is for
    tests that move time.
    """
    settings = settings or Settings()
    if isinstance(database, Engine):
        engine, owns_engine = database, False
    else:
        engine, owns_engine = create_api_engine(database or settings.database_url), True
    token = (token if token is not None else settings.api_token) or None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="Headway",
        version=version("headway"),
        summary="Distributed task scheduler: tasks, schedules and capacity planning.",
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
        redoc_url=None,
    )
    app.state.context = ApiContext(
        engine=engine,
        broker_url=broker_url or settings.broker_url,
        clock=clock or (lambda: datetime.now(UTC)),
        scaling=scaling_defaults
        or ScalingDefaults(
            settings.scaling_lead_minutes, settings.scaling_cooldown_minutes, settings.processor_concurrency
        ),
        queue=settings.queue,
        queue_type=settings.queue_type,
    )
    install_error_handlers(app)
    protected: dict[str, Any] = (
        {"dependencies": [Depends(bearer_scheme)], "responses": UNAUTHORIZED} if token else {}
    )
    for router in (
        tasks.router,
        task_types.router,
        capacity.router,
        forecast_accuracy.router,
        scaling.router,
        metrics.router,
        dead_letters.router,
    ):
        app.include_router(router, **protected)
    app.include_router(health.router)
    if token:
        app.add_middleware(BearerTokenMiddleware, token=token, public_paths=PUBLIC_PATHS)
    return app


def create_api_engine(url: str) -> Engine:
    """An engine with the API's time bounds (PostgreSQL); SQLite keeps its busy timeout."""
    url = normalize_database_url(url)
    if not url.startswith("postgresql"):
        return create_db_engine(url)
    options = f"-c lock_timeout={PG_LOCK_TIMEOUT_MS} -c statement_timeout={PG_STATEMENT_TIMEOUT_MS}"
    return create_db_engine(
        url,
        pool_size=PG_POOL_SIZE,
        pool_timeout=PG_POOL_TIMEOUT_S,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S, "options": options},
    )
