"""Pruning while tasks flow: a Distributor and a Processor run tasks (with retries and dead
letters) while the history step rolls up and prunes over and over. Nothing is lost that is
not finished and older than the retention, and every run is counted exactly once, in the
rollups or among the recent runs. Both dialects."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select

from engine.adapters.history_store import PruneResult, prune_history, read_watermark
from engine.adapters.memory_broker import MemoryBroker
from engine.adapters.partition_store import create_partition_pair, existing_ranges
from engine.adapters.tables import task_run_rollups, task_runs, task_schedule, task_types, tasks
from engine.core.execution import TaskContext, TaskFailed
from engine.core.partitions import range_containing
from engine.core.retention import is_prunable
from engine.processes.distributor import Distributor, DistributorConfig
from engine.processes.processor import Processor, ProcessorConfig
from tests.integration.helpers import wait_for
from tests.integration.test_history import seed_history

pytestmark = pytest.mark.integration

RETENTION = timedelta(days=30)
FINAL = {"Succeeded", "Dead"}


def _add_due_rows(engine: Engine, task_id: int, count: int, now: datetime) -> list[int]:
    with engine.begin() as connection:
        return [
            int(
                connection.execute(
                    insert(task_schedule)
                    .values(task_id=task_id, scheduled_time=now - timedelta(microseconds=i), attempt=0)
                    .returning(task_schedule.c.id)
                ).scalar_one()
            )
            for i in range(count)
        ]


def test_pruning_while_tasks_flow_loses_nothing_unfinished_or_recent(db_engine: Engine) -> None:
    now = datetime.now(UTC)
    if db_engine.dialect.name == "postgresql":
        # The last 100 days have their weeks (as in a database run that long), so pruning
        # drops whole weeks while tasks flow; older rows wait in the default partition.
        with db_engine.begin() as connection:
            week = range_containing(now - timedelta(days=100))
            while week.start < now:
                if week not in existing_ranges(connection):
                    create_partition_pair(connection, week)
                week = range_containing(week.end)
    seeded = seed_history(db_engine, now, random.Random(31), rows=300)
    with db_engine.connect() as connection:
        seeded_runs = connection.execute(select(func.count()).select_from(task_runs)).scalar_one()
    with db_engine.begin() as connection:
        connection.execute(
            insert(task_types).values(
                name="job", handler="job", expected_duration_ms=1, timeout_ms=5_000, max_attempts=3, config={}
            )
        )
        job_task = connection.execute(
            insert(tasks)
            .values(name="flow", task_type="job", kind="immediate", created_at=now, updated_at=now)
            .returning(tasks.c.id)
        ).scalar_one()

    def job(context: TaskContext) -> str:
        if context.schedule_id % 7 == 0 or (context.schedule_id % 3 == 0 and context.attempt == 1):
            raise TaskFailed("asked to fail")  # dead after 3 attempts, or one retry
        return "ok"

    broker = MemoryBroker()
    stop = threading.Event()
    processor = Processor(
        db_engine,
        broker,
        {"job": job},
        ProcessorConfig("p1", concurrency=4, backoff_base_ms=20, heartbeat_s=0.2),
    )
    distributor = Distributor(db_engine, broker, DistributorConfig("d1", batch_size=50, poll_interval_s=0.05))
    prunes: list[PruneResult] = []

    def prune_continuously() -> None:
        while not stop.is_set():
            prunes.append(prune_history(db_engine, datetime.now(UTC), RETENTION, batch_rows=7, max_batches=3))

    threads = [
        threading.Thread(target=processor.run, args=(stop,)),
        threading.Thread(target=distributor.run, args=(stop,)),
        threading.Thread(target=prune_continuously),
    ]
    for thread in threads:
        thread.start()
    flowing: list[int] = []
    try:
        for _ in range(6):
            flowing += _add_due_rows(db_engine, job_task, 40, datetime.now(UTC))

        def all_final() -> bool:
            with db_engine.connect() as connection:
                rows = connection.execute(
                    select(task_schedule.c.status).where(task_schedule.c.id.in_(flowing))
                ).scalars()
                return Counter(rows).keys() <= FINAL

        wait_for(all_final, 60, "the flowing tasks to finish")
        wait_for(lambda: len(prunes) > 3, 30, "a few prunes")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not any(thread.is_alive() for thread in threads)

    prunes.append(prune_history(db_engine, datetime.now(UTC), RETENTION))
    assert sum(result.schedule_rows for result in prunes[:-1]) > 0  # pruned while tasks flowed
    # Seeded rows that were not prunable stay, whether the flow finished them meanwhile (they
    # are recent then) or not; the prunable ones, final and untouched by the flow, go.
    expected_kept = {
        row["id"]
        for row in seeded
        if not is_prunable(
            row["status"],
            row["finished_at"],
            now,
            RETENTION,
            retry_pending=row["next_attempt_at"] is not None,
            discarded_at=row.get("discarded_at"),
        )
    }
    with db_engine.connect() as connection:
        kept = set(connection.execute(select(task_schedule.c.id)).scalars())
        flow_rows = connection.execute(
            select(task_schedule.c.id, task_schedule.c.status, task_schedule.c.attempt).where(
                task_schedule.c.id.in_(flowing)
            )
        ).all()
        runs_per_row = Counter(connection.execute(select(task_runs.c.schedule_id)).scalars())
        raw_runs = connection.execute(select(func.count()).select_from(task_runs)).scalar_one()
        rolled_up = connection.execute(select(func.sum(task_run_rollups.c.run_count))).scalar_one()
        recent = connection.execute(
            select(func.count()).select_from(task_runs).where(task_runs.c.id > read_watermark(connection))
        ).scalar_one()
    if db_engine.dialect.name == "postgresql":
        # Weeks go whole: a prunable row stays while its week holds rows younger than the
        # retention (it goes with the week), never in a week wholly older than it.
        scheduled = {row["id"]: row["scheduled_time"] for row in seeded}
        extra = kept - expected_kept - set(flowing)
        assert all(range_containing(scheduled[i]).end > now - RETENTION for i in extra)
        assert kept >= expected_kept | set(flowing)
    else:
        assert kept == expected_kept | set(flowing)
    assert {row.id: row.status for row in flow_rows} == {
        i: "Dead" if i % 7 == 0 else "Succeeded" for i in flowing
    }
    # Every attempt of every flowing row has its run, none twice.
    assert all(runs_per_row[row.id] == row.attempt for row in flow_rows)
    # Each run is counted once: in the rollups (pruned or not) or past the watermark.
    deleted_runs = sum(result.run_rows for result in prunes)
    assert int(rolled_up or 0) + recent == raw_runs + deleted_runs
    assert raw_runs + deleted_runs >= seeded_runs + sum(row.attempt for row in flow_rows)
