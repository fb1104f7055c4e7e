"""/scaling/processors: the forecast as a replica count, for autoscalers (KEDA metrics-api)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from engine.api.deps import ContextDep, NowDep
from engine.api.models import ProcessorsTargetPublic
from engine.core.processor_target import MAX_LEAD_MINUTES
from engine.services.scaling import processors_target

router = APIRouter(tags=["capacity"])


@router.get("/scaling/processors")
def get_processors_target(
    context: ContextDep,
    now: NowDep,
    lead_minutes: Annotated[
        int | None,
        Query(ge=0, le=MAX_LEAD_MINUTES, description="minutes ahead to cover (default: the setting)"),
    ] = None,
    cooldown_minutes: Annotated[
        int | None,
        Query(ge=0, le=MAX_LEAD_MINUTES, description="minutes to keep processors after the need drops"),
    ] = None,
) -> ProcessorsTargetPublic:
    """Processors to run now so that every minute up to `now + lead_minutes` is covered:
    the highest required instances (worker slots) from `now - cooldown_minutes` to
    `now + lead_minutes`, divided by the processors' concurrency, rounded up.

    For KEDA's `metrics-api` scaler: `valueLocation: processors`, `targetValue: "1"`.
    Out-of-range minutes are a 422 naming the parameter."""
    defaults = context.scaling
    lead = defaults.lead_minutes if lead_minutes is None else lead_minutes
    cooldown = defaults.cooldown_minutes if cooldown_minutes is None else cooldown_minutes
    target = processors_target(context.engine, now, lead, cooldown, defaults.concurrency)
    return ProcessorsTargetPublic(
        processors=target.processors,
        worker_slots=target.worker_slots,
        concurrency=target.concurrency,
        lead_minutes=lead,
        cooldown_minutes=cooldown,
        window_start=target.window.first,
        window_end=target.window.end,
        peak_minute=target.peak_minute,
    )
