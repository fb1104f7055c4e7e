"""Live processors, their runs in flight and throughput per minute, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, inspect

from engine.adapters.tables import processor_heartbeats, task_runs, task_schedule
from engine.services.workers import ThroughputMinute, live_processors, throughput_per_minute, worker_slots
from tests.integration.helpers import add_cron_task

NOW = datetime(2026, 3, 2, 10, 30, 30, tzinfo=UTC)


def beat(processor_id: str, pid: int, concurrency: int, seen: datetime) -> dict[str, object]:
    return {
        "processor_id": processor_id,
        "hostname": "host-a",
        "pid": pid,
        "concurrency": concurrency,
        "started_at": NOW - timedelta(hours=1),
        "last_seen_at": seen,
    }


def test_live_processors_with_their_running_rows_and_slots(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, NOW, "0 0 1 1 *")
    with db_engine.begin() as connection:
        connection.execute(
            insert(processor_heartbeats),
            [
                beat("p-4", 11, 4, NOW - timedelta(seconds=3)),
                beat("p-1", 12, 1, NOW - timedelta(seconds=25)),
                beat("gone", 13, 8, NOW - timedelta(minutes=2)),
            ],
        )
        running = {
            "status": "Running",
            "attempt": 1,
            "claimed_by": "p-4",
            "started_at": NOW - timedelta(seconds=2),
        }
        connection.execute(
            insert(task_schedule),
            [{"task_id": task.id, "scheduled_time": NOW - timedelta(seconds=s)} | running for s in (2, 3, 4)]
            + [
                {"task_id": task.id, "scheduled_time": NOW - timedelta(seconds=9)}
                | running
                | {"status": "Succeeded", "claimed_by": "p-1"}
            ],
        )

    processors = live_processors(db_engine, NOW)

    assert [(p.processor_id, p.pid, p.concurrency, p.running) for p in processors] == [
        ("p-4", 11, 4, 3),
        ("p-1", 12, 1, 0),
    ]
    assert processors[0].last_seen_at == NOW - timedelta(seconds=3)
    assert worker_slots(processors) == 5


def test_throughput_counts_finished_attempts_per_minute(db_engine: Engine) -> None:
    minute = NOW.replace(minute=20, second=0)

    def run(started: datetime, outcome: str | None, elapsed_s: float = 1) -> dict[str, object]:
        finished = started + timedelta(seconds=elapsed_s) if outcome else None
        return {
            "task_type": "http",
            "attempt": 1,
            "started_at": started,
            "finished_at": finished,
            "outcome": outcome,
        }

    with db_engine.begin() as connection:
        connection.execute(
            insert(task_runs),
            [
                run(minute + timedelta(seconds=5), "succeeded"),
                run(minute + timedelta(seconds=50), "succeeded", elapsed_s=20),  # finishes in the next minute
                run(minute + timedelta(seconds=7), "timeout"),
                run(minute + timedelta(seconds=8), None),  # still running
                run(minute - timedelta(hours=2), "succeeded"),  # before the window
            ],
        )

    assert throughput_per_minute(db_engine, NOW - timedelta(hours=1), NOW) == [
        ThroughputMinute(minute, succeeded=1, failed=1),
        ThroughputMinute(minute + timedelta(minutes=1), succeeded=1, failed=0),
    ]


def test_attempts_are_indexed_by_start(db_engine: Engine) -> None:
    [index] = [i for i in inspect(db_engine).get_indexes("task_runs") if i["name"] == "task_runs_started"]
    assert index["column_names"] == ["started_at"]
