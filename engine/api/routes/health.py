"""/health: open to everyone, for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Response

from engine.api.deps import ContextDep
from engine.api.models import HealthPublic
from engine.services.health import check_health

router = APIRouter(tags=["operations"])


@router.get("/health", responses={503: {"model": HealthPublic, "description": "Something is down"}})
def get_health(context: ContextDep, response: Response) -> HealthPublic:
    """200 when the database and the broker both answer, 503 naming what is down."""
    health = check_health(context.engine, context.broker_url)
    problems = [
        f"{name}: {problem}"
        for name, problem in (("database", health.database_problem), ("broker", health.broker_problem))
        if problem is not None
    ]
    if not health.ok:
        response.status_code = 503
    return HealthPublic(
        status="ok" if health.ok else "unavailable",
        database="up" if health.database_problem is None else "down",
        broker="up" if health.broker_problem is None else "down",
        problems=problems,
    )


@router.get("/livez")
def get_livez() -> dict[str, str]:
    """200 while the process serves requests: what an orchestrator's liveness probe asks.
    It does not look at the database or the broker, so an outage of theirs restarts no API."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": HealthPublic, "description": "Something is down"}})
def get_readyz(context: ContextDep, response: Response) -> HealthPublic:
    """`/health` under the name readiness probes use: 200 when the database and the broker
    answer, 503 naming what is down."""
    return get_health(context, response)
