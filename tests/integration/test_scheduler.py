"""The Scheduler on real PostgreSQL and on SQLite."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from engine.adapters import schedule_store
from engine.adapters.database import create_db_engine
from engine.adapters.tables import tasks
from engine.processes.scheduler import run_pass
from engine.services.schemas import TaskInput
from engine.services.tasks import create_task, set_inactive, update_task
from tests.integration.helpers import add_cron_task, count_rows, schedule_rows

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 28, 22, 0, 10, tzinfo=UTC)


def test_pass_materialises_cron_once_and_immediate_tasks(db_engine: Engine) -> None:
    every_15 = add_cron_task(db_engine, NOW, "*/15 * * * *")
    once_at = NOW + timedelta(hours=2)
    once = create_task(
        db_engine, TaskInput(name="once", task_type="reminder", kind="once", run_at=once_at), NOW
    )
    now_task = create_task(db_engine, TaskInput(name="now", task_type="notification", kind="immediate"), NOW)

    result = run_pass(db_engine, NOW)

    # Horizon: max(end of UTC day, now + 3 h) = 2026-03-29T01:00:10Z.
    assert result.horizon == datetime(2026, 3, 29, 1, 0, 10, tzinfo=UTC)
    cron_times = [row[1] for row in schedule_rows(db_engine, every_15.id)]
    assert cron_times[0] == datetime(2026, 3, 28, 22, 15, tzinfo=UTC)
    assert cron_times[-1] == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert len(cron_times) == 12
    assert [row[1] for row in schedule_rows(db_engine, once.id)] == [once_at]
    assert [row[1] for row in schedule_rows(db_engine, now_task.id)] == [NOW]
    assert {row[2] for row in schedule_rows(db_engine)} == {"Scheduled"}
    assert result.rows_inserted == 14


def test_second_pass_adds_nothing_and_later_pass_extends(db_engine: Engine) -> None:
    add_cron_task(db_engine, NOW, "* * * * *")
    first = run_pass(db_engine, NOW)
    assert run_pass(db_engine, NOW).rows_inserted == 0
    assert count_rows(db_engine) == first.rows_inserted == 180
    later = run_pass(db_engine, NOW + timedelta(minutes=10))
    assert later.rows_inserted == 10
    assert count_rows(db_engine) == 190


def test_dst_spring_forward_in_berlin_through_the_scheduler(db_engine: Engine) -> None:
    # Europe/Berlin jumps 02:00 -> 03:00 local on 2026-03-29 (01:00 UTC).
    daily_0230 = add_cron_task(db_engine, NOW, "30 2 * * *", "Europe/Berlin")
    hourly = add_cron_task(db_engine, NOW, "30 * * * *", "Europe/Berlin")
    run_pass(db_engine, NOW, window_hours=6)
    # 02:30 does not exist that night: a fixed-hour job runs once, at 03:00 CEST (01:00 UTC).
    assert [row[1] for row in schedule_rows(db_engine, daily_0230.id)] == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    ]
    hourly_times = [row[1] for row in schedule_rows(db_engine, hourly.id)]
    # A '*' hour runs every real hour: 00:30 CET, 01:30 CET, then 03:30 CEST.
    assert datetime(2026, 3, 29, 0, 30, tzinfo=UTC) in hourly_times
    assert datetime(2026, 3, 29, 1, 30, tzinfo=UTC) in hourly_times
    assert all(b - a == timedelta(hours=1) for a, b in zip(hourly_times, hourly_times[1:], strict=False))


def test_failure_mid_pass_leaves_no_partial_rows(db_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    add_cron_task(db_engine, NOW, "* * * * *")
    add_cron_task(db_engine, NOW, "*/2 * * * *")
    real_insert = schedule_store.insert_fire_times
    calls = []

    def failing_insert(*args: object, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away mid-pass")
        return real_insert(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(schedule_store, "insert_fire_times", failing_insert)
    with pytest.raises(RuntimeError):
        run_pass(db_engine, NOW)
    assert len(calls) == 2
    assert count_rows(db_engine) == 0
    with db_engine.connect() as connection:
        marks = connection.execute(select(tasks.c.materialized_until)).scalars().all()
    assert marks == [None, None]
    monkeypatch.undo()
    assert run_pass(db_engine, NOW).rows_inserted == 180 + 90


def test_two_schedulers_racing_produce_each_fire_time_once(db_url: str) -> None:
    setup = create_db_engine(db_url)
    for index in range(40):
        add_cron_task(setup, NOW, ["* * * * *", "*/5 * * * *", "0 * * * *"][index % 3], name=f"t{index}")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def scheduler() -> None:
        engine = create_db_engine(db_url)
        try:
            barrier.wait()
            for _ in range(3):
                run_pass(engine, NOW)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    rows = schedule_rows(setup)
    keys = [(task_id, time) for task_id, time, _ in rows]
    assert len(keys) == len(set(keys))
    # 14 tasks every minute (180), 13 every 5 minutes (36), 13 hourly (3).
    assert len(rows) == 14 * 180 + 13 * 36 + 13 * 3
    setup.dispose()


def test_edit_deletes_scheduled_rows_and_next_pass_repopulates(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, NOW, "0 * * * *")
    run_pass(db_engine, NOW)
    assert len(schedule_rows(db_engine, task.id)) == 3
    later = NOW + timedelta(minutes=5)
    spec = TaskInput(
        name="edited", task_type="http", kind="cron", cron_expression="30 * * * *", timezone="UTC"
    )
    update_task(db_engine, task.id, spec, later)
    assert schedule_rows(db_engine, task.id) == []
    run_pass(db_engine, later)
    assert [row[1].minute for row in schedule_rows(db_engine, task.id)] == [30, 30, 30]


def test_inactive_task_loses_scheduled_rows_and_gets_no_more(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, NOW, "*/10 * * * *")
    run_pass(db_engine, NOW)
    set_inactive(db_engine, task.id, NOW)
    assert schedule_rows(db_engine, task.id) == []
    assert run_pass(db_engine, NOW + timedelta(hours=4)).rows_inserted == 0
