"""Every PostgreSQL session Headway opens plans without JIT and without parallel workers
(engine.adapters.database): both cost tens of ms on statements that read a few rows once
the history is large, and the planner's estimates grow with it."""

from __future__ import annotations

from sqlalchemy import Engine, text


def test_sessions_run_without_jit_or_parallel_workers(pg_engine: Engine) -> None:
    pg_engine.dispose()  # fresh connections, each set up on connect
    for _ in range(2):
        with pg_engine.connect() as connection:
            assert connection.execute(text("SHOW jit")).scalar_one() == "off"
            assert connection.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one() == "0"
            connection.rollback()  # a rolled back transaction keeps the session's settings
            assert connection.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one() == "0"
