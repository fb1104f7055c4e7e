"""The processor's writes on SQLite and PostgreSQL: rows started and finished per second.

Seeds `--rows` `Queued` schedule rows, then starts them in batches of `--batch` (one store
call, one transaction each, as the coordinator does) and finishes them the same way, through
`engine.adapters.sql_stores.SqlRunStore`. Prints rows per second for each write.

    .venv/bin/python benchmarks/bench_run_store.py [--rows 20000] [--batch 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, insert, select, text  # noqa: E402

from benchmarks.common import fresh_postgres, stopwatch  # noqa: E402
from engine.adapters.database import create_db_engine  # noqa: E402
from engine.adapters.migrations import upgrade  # noqa: E402
from engine.adapters.sql_stores import SqlRunStore  # noqa: E402
from engine.adapters.tables import task_schedule, tasks  # noqa: E402
from engine.core.messages import TaskMessage  # noqa: E402
from engine.core.runs import FinishedRun  # noqa: E402
from engine.core.types import ScheduleStatus  # noqa: E402

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@contextmanager
def fresh_sqlite() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as directory:
        engine = create_db_engine(f"sqlite:///{directory}/bench.db")
        try:
            upgrade(engine, "head")
            yield engine
        finally:
            engine.dispose()


def seed(engine: Engine, count: int) -> list[TaskMessage]:
    """`count` Queued rows, one task each, and the messages that start them."""
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM task_runs"))
        connection.execute(text("DELETE FROM task_schedule"))
        connection.execute(text("DELETE FROM tasks"))
        task_ids = connection.execute(
            insert(tasks).returning(tasks.c.id),
            [
                {
                    "name": f"bench {i}",
                    "task_type": "http",
                    "kind": "immediate",
                    "payload": {"url": "http://example.invalid"},
                    "active": True,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(count)
            ],
        ).scalars()
        connection.execute(
            insert(task_schedule),
            [
                {"task_id": t, "scheduled_time": NOW, "status": "Queued", "attempt": 0}
                for t in task_ids
            ],
        )
        rows = connection.execute(select(task_schedule.c.id, task_schedule.c.task_id)).all()
    return [TaskMessage(int(r.id), int(r.task_id), "http", 1, NOW) for r in rows]


def measure(engine: Engine, rows: int, batch: int) -> tuple[float, float]:
    """Seconds to start, then to finish, every row."""
    messages = seed(engine, rows)
    store = SqlRunStore(engine)
    lease = NOW + timedelta(seconds=30)
    batches = [messages[i : i + batch] for i in range(0, len(messages), batch)]
    started = []
    with stopwatch() as start_s:
        for part in batches:
            runs, others = store.start_runs(part, "bench", NOW, lease)
            assert not others, others[:1]
            started.append(runs)
    finished_at = NOW + timedelta(seconds=1)
    with stopwatch() as finish_s:
        for runs in started:
            outcomes = [
                FinishedRun(run, ScheduleStatus.SUCCEEDED, finished_at, 1_000, "succeeded", "ok")
                for run in runs
            ]
            assert len(store.finish_runs(outcomes, "bench")) == len(runs)
    return start_s[0], finish_s[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"rows: {args.rows:,}  batch: {args.batch}  best of {args.repeat}")
    for name, database in (("sqlite", fresh_sqlite), ("postgresql", fresh_postgres)):
        with database() as engine:
            runs = [measure(engine, args.rows, args.batch) for _ in range(args.repeat)]
        start_s = min(r[0] for r in runs)
        finish_s = min(r[1] for r in runs)
        print(
            f"{name:<10}  start {args.rows / start_s:9,.0f} rows/s"
            f"   finish {args.rows / finish_s:9,.0f} rows/s"
        )


if __name__ == "__main__":
    main()
