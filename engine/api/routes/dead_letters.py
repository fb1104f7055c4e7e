"""/dead-letters: list the runs that used up their attempts, replay or discard them, through
the same service as `headway dlq` and the dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Query

from engine.adapters.brokers import open_broker
from engine.api.deps import ApiContext, ContextDep, EngineDep, NowDep
from engine.api.errors import BAD_BODY, NOT_DEAD_LETTER
from engine.api.models import (
    DeadLetterPage,
    DeadLetterPublic,
    DeadLetterSelection,
    DiscardPublic,
    ReplayPublic,
)
from engine.ports import Broker
from engine.services import dead_letters

router = APIRouter(tags=["dead letters"])

MAX_LIST = 1_000
# Most dead-letter messages looked at per request, as the dashboard's replay.
VISIT_LIMIT = 10_000


@router.get("/dead-letters")
def list_dead_letters(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="most rows")] = 100,
    discarded: Annotated[bool, Query(description="the discarded ones instead, latest first")] = False,
) -> DeadLetterPage:
    """Live dead letters, oldest death first, read from the database (the row is the truth:
    it lists them also when the broker is the in-process one of `headway up`)."""
    rows = dead_letters.list_dead_rows(engine, limit, discarded=discarded)
    return DeadLetterPage(
        items=[DeadLetterPublic.model_validate(row) for row in rows],
        total=dead_letters.count_dead_rows(engine, discarded=discarded),
    )


@router.post("/dead-letters/replay", responses=NOT_DEAD_LETTER | BAD_BODY)
def replay_dead_letters(body: DeadLetterSelection, context: ContextDep) -> ReplayPublic:
    """Give the named dead letters a fresh set of attempts: each row goes back to `Scheduled`
    and its message leaves the dead-letter queue. 404 if an id names no row, 409 if a row is
    not a dead letter or was discarded; then nothing changes."""
    wanted = set(body.schedule_ids)
    dead_letters.check_dead_letters(context.engine, wanted)
    with _broker(context) as broker:
        report = dead_letters.replay_dead_letters(context.engine, broker, wanted, VISIT_LIMIT)
    return ReplayPublic(
        replayed=report.replayed,
        already_replayed=report.already_replayed,
        not_dead=report.not_dead,
        discarded=report.discarded,
    )


@router.post("/dead-letters/discard", responses=NOT_DEAD_LETTER | BAD_BODY)
def discard_dead_letters(body: DeadLetterSelection, context: ContextDep, now: NowDep) -> DiscardPublic:
    """Give up on the named dead letters: each row stays `Dead` as history but is marked
    discarded (no longer listed nor replayable) and its message leaves the dead-letter queue.
    404 if an id names no row, 409 if a row is not a dead letter or was discarded already;
    then nothing changes."""
    wanted = set(body.schedule_ids)
    dead_letters.check_dead_letters(context.engine, wanted)
    with _broker(context) as broker:
        report = dead_letters.discard_dead_letters(context.engine, broker, wanted, VISIT_LIMIT, now)
    return DiscardPublic(discarded=report.discarded, stale=report.stale, not_dead=report.not_dead)


@contextmanager
def _broker(context: ApiContext) -> Iterator[Broker]:
    broker = open_broker(context.broker_url, context.queue, context.queue_type)
    try:
        yield broker
    finally:
        broker.close()
