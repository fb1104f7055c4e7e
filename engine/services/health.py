"""Whether Headway's two dependencies answer: the database and the broker."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from engine.adapters.broker_health import check_broker
from engine.adapters.database_health import check_database


@dataclass(frozen=True, slots=True)
class Health:
    """Each dependency's problem, or None when it answered."""

    database_problem: str | None
    broker_problem: str | None

    @property
    def ok(self) -> bool:
        return self.database_problem is None and self.broker_problem is None


def check_health(engine: Engine, broker_url: str) -> Health:
    return Health(database_problem=check_database(engine), broker_problem=check_broker(broker_url))
