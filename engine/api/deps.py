"""What handlers get injected: the database engine, the request's `now`, the wiring."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine


@dataclass(frozen=True, slots=True)
class ScalingDefaults:
    """What `/scaling/processors` and `/metrics` assume when a request does not say."""

    lead_minutes: int
    cooldown_minutes: int
    concurrency: int


def default_scaling() -> ScalingDefaults:
    from engine.settings import default_setting

    return ScalingDefaults(
        default_setting("scaling_lead_minutes"),
        default_setting("scaling_cooldown_minutes"),
        default_setting("processor_concurrency"),
    )


def default_queue(name: str) -> str:
    from engine.settings import default_setting

    return str(default_setting(name))


@dataclass(frozen=True, slots=True)
class ApiContext:
    engine: Engine
    broker_url: str
    clock: Callable[[], datetime]
    scaling: ScalingDefaults = field(default_factory=default_scaling)
    # The dead-letter queue's name and type, for replay and discard.
    queue: str = field(default_factory=lambda: default_queue("queue"))
    queue_type: str = field(default_factory=lambda: default_queue("queue_type"))


def get_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


ContextDep = Annotated[ApiContext, Depends(get_context)]


def get_engine(context: ContextDep) -> Engine:
    return context.engine


def get_now(context: ContextDep) -> datetime:
    # The clock is read once per request; everything the request does uses this instant.
    return context.clock()


EngineDep = Annotated[Engine, Depends(get_engine)]
NowDep = Annotated[datetime, Depends(get_now)]
