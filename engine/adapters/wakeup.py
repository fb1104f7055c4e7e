"""Waking the Distributor early: PostgreSQL LISTEN on the channel that the `task_schedule`
insert trigger notifies (sql/postgresql/0002_distribution.sql)."""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from sqlalchemy import Engine

log = logging.getLogger("headway.wakeup")

CHANNEL = "headway_schedule"


class PostgresWakeup:
    """`wait(timeout_s)` returns when rows were inserted or the timeout ends. Without a
    listening connection (database away) it simply sleeps: polling still finds the rows."""

    def __init__(self, engine: Engine) -> None:
        url = engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._connection: Any = None

    def wait(self, timeout_s: float) -> None:
        if timeout_s <= 0:
            return
        try:
            connection = self._listening()
            for _ in connection.notifies(timeout=timeout_s, stop_after=1):
                pass
        except psycopg.Error as error:
            log.debug("no LISTEN connection (%s); sleeping instead", error.__class__.__name__)
            self.close()
            time.sleep(timeout_s)

    def _listening(self) -> Any:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            self._connection.execute(f"LISTEN {CHANNEL}")
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None
