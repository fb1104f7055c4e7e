"""The On time report's queries, on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, inspect

from engine.adapters.tables import task_schedule
from engine.core.on_time import lag_bucket_ms, percentile_ms
from engine.services.on_time import on_time_report
from tests.integration.helpers import add_cron_task

NOW = datetime(2026, 3, 2, 10, 30, 30, tzinfo=UTC)
MINUTE = NOW.replace(minute=20, second=0)


def add_rows(engine: Engine, task_id: int, *rows: dict[str, Any]) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(task_schedule),
            [
                {"task_id": task_id, "attempt": 1, "status": "Succeeded", "start_lag_ms": None} | r
                for r in rows
            ],
        )


def test_lag_per_minute_waiting_rows_and_the_verdict(db_engine: Engine) -> None:
    http = add_cron_task(db_engine, NOW, "0 0 1 1 *", name="h")
    note = add_cron_task(db_engine, NOW, "0 0 1 1 *", name="n", task_type="notification")
    lags = [120, 480, 9_000, 10_000, 15_500]
    add_rows(
        db_engine,
        http.id,
        *(
            {"scheduled_time": MINUTE + timedelta(seconds=s), "start_lag_ms": lag}
            for s, lag in enumerate(lags)
        ),
        {"scheduled_time": MINUTE + timedelta(minutes=2), "start_lag_ms": 700},
        {"scheduled_time": MINUTE - timedelta(hours=4), "start_lag_ms": 99_000},  # before the window
        {"scheduled_time": MINUTE + timedelta(minutes=3), "status": "Failed"},  # never started: no lag
        {"scheduled_time": NOW - timedelta(seconds=40), "status": "Queued"},
        {"scheduled_time": NOW - timedelta(seconds=5), "status": "Scheduled"},
        {"scheduled_time": NOW + timedelta(seconds=5), "status": "Scheduled"},  # not due yet
    )
    add_rows(db_engine, note.id, {"scheduled_time": NOW - timedelta(seconds=20), "status": "Scheduled"})

    report = on_time_report(db_engine, NOW, hours=1)

    first, second = report.minutes
    assert (first.minute, first.started, first.on_time, first.max_ms) == (MINUTE, 5, 4, 15_500)
    assert (first.p50_ms, first.p95_ms, first.p99_ms) == (9_099, 15_500, 15_500)
    assert (second.minute, second.started, second.p50_ms) == (MINUTE + timedelta(minutes=2), 1, 700)
    assert [(w.task_type, w.due, w.late, w.oldest) for w in report.waiting] == [
        ("http", 2, 1, NOW - timedelta(seconds=40)),
        ("notification", 1, 1, NOW - timedelta(seconds=20)),
    ]
    assert report.verdict.broken
    assert (report.verdict.started, report.verdict.on_time, report.verdict.late_waiting) == (6, 5, 2)
    assert report.verdict.oldest_waiting_s == 40


def test_the_database_buckets_lags_as_the_core_does(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, NOW, "0 0 1 1 *")
    lags = [0, 9, 537, 999, 1_000, 9_999, 10_000, 12_345, 99_999, 123_456, -537]
    far = 300_000  # a second, larger lag per minute, so the first one's bucket top shows uncapped
    add_rows(
        db_engine,
        task.id,
        *(
            {"scheduled_time": MINUTE + timedelta(minutes=i), "start_lag_ms": lag}
            for i, lag in enumerate(lags)
        ),
        *(
            {"scheduled_time": MINUTE + timedelta(minutes=i, seconds=1), "start_lag_ms": far}
            for i in range(11)
        ),
    )
    report = on_time_report(db_engine, NOW, hours=1)
    for minute, lag in zip(report.minutes, lags, strict=True):
        expected = percentile_ms({lag_bucket_ms(lag): 1, lag_bucket_ms(far): 1}, 0.5, far)
        assert minute.p50_ms == expected, lag
        assert (minute.max_ms, minute.started, minute.on_time) == (far, 2, int(lag <= 10_000))


def test_nothing_scheduled_is_not_broken(db_engine: Engine) -> None:
    report = on_time_report(db_engine, NOW)
    assert report.minutes == [] and report.waiting == []
    assert not report.verdict.broken


def test_rows_due_and_not_started_have_an_index_of_their_own(db_engine: Engine) -> None:
    dialect = db_engine.dialect.name
    [index] = [
        i for i in inspect(db_engine).get_indexes("task_schedule") if i["name"] == "task_schedule_waiting"
    ]
    assert index["column_names"] == ["scheduled_time"]
    predicate = str(index["dialect_options"][f"{dialect}_where"])
    assert "'Scheduled'" in predicate and "'Queued'" in predicate
