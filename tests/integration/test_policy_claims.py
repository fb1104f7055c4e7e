"""Per-task overlap and misfire policies in the distributor's claim (engine.adapters
.policy_claims), on both dialects: what is claimed, what is recorded Skipped and why, and
what waits; and the Skipped rows left out of the forecast."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from engine.adapters.skip_counts import skip_totals
from engine.adapters.sql_stores import SqlDistributionStore
from engine.adapters.tables import forecast_snapshots, task_schedule, task_types
from engine.processes.scheduler import run_pass
from engine.services.forecast import forecast
from engine.services.forecast_accuracy import take_snapshots
from engine.services.schemas import TaskInput
from engine.services.summaries import scheduled_summary
from engine.services.tasks import create_task, edit_task
from tests.integration.helpers import add_cron_task

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(hours=1)  # no claim lapses during a test


def rows_by_time(engine: Engine, task_id: int) -> dict[int, tuple[str, str | None]]:
    """Minute after T0 -> (status, skip_reason) of each of the task's rows."""
    query = select(task_schedule.c.scheduled_time, task_schedule.c.status, task_schedule.c.skip_reason).where(
        task_schedule.c.task_id == task_id
    )
    with engine.connect() as connection:
        return {
            int((row.scheduled_time - T0).total_seconds() // 60): (row.status, row.skip_reason)
            for row in connection.execute(query)
        }


def claim(engine: Engine, now: datetime, claimer: str = "d1") -> list[int]:
    """One claim at `now`; the minutes after T0 of the rows claimed."""
    result = SqlDistributionStore(engine).claim(now, 100, claimer, now + LEASE, [])
    return sorted(int((m.scheduled_time - T0).total_seconds() // 60) for m in result.messages)


def finish(engine: Engine, task_id: int) -> None:
    """The task's runs in flight end (as a processor's outcome would leave them)."""
    with engine.begin() as connection:
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.task_id == task_id, task_schedule.c.status.in_(["Queued", "Running"]))
            .values(status="Succeeded", lease_expires_at=None)
        )


def every_minute(engine: Engine, **policies: Any) -> int:
    task = add_cron_task(engine, T0 - timedelta(seconds=1), "* * * * *", **policies)
    run_pass(engine, T0 - timedelta(seconds=1), forecast_hours=0.25)
    return task.id


def test_overlap_skip_records_fire_times_due_while_a_run_is_in_flight(db_engine: Engine) -> None:
    task_id = every_minute(db_engine, overlap_policy="skip")
    plain = every_minute(db_engine, name="plain")
    assert claim(db_engine, T0) == [0, 0]  # one row each
    assert claim(db_engine, T0 + timedelta(minutes=1)) == [1]  # the plain task's alone
    assert claim(db_engine, T0 + timedelta(minutes=2)) == [2]
    finish(db_engine, task_id)
    assert claim(db_engine, T0 + timedelta(minutes=3)) == [3, 3]
    rows = rows_by_time(db_engine, task_id)
    assert {m: rows[m] for m in range(4)} == {
        0: ("Succeeded", None),
        1: ("Skipped", "overlap"),
        2: ("Skipped", "overlap"),
        3: ("Queued", None),
    }
    assert {m: rows_by_time(db_engine, plain)[m][0] for m in range(4)} == dict.fromkeys(range(4), "Queued")


def test_overlap_queue_keeps_the_fire_time_scheduled_until_the_run_ends(db_engine: Engine) -> None:
    task_id = every_minute(db_engine, overlap_policy="queue")
    assert claim(db_engine, T0) == [0]
    assert claim(db_engine, T0 + timedelta(minutes=2)) == []
    finish(db_engine, task_id)
    # One at a time, oldest first, each keeping its scheduled time (the lag counts from it).
    assert claim(db_engine, T0 + timedelta(minutes=2)) == [1]
    finish(db_engine, task_id)
    assert claim(db_engine, T0 + timedelta(minutes=2)) == [2]
    assert {m: rows_by_time(db_engine, task_id)[m][0] for m in range(4)} == {
        0: "Succeeded",
        1: "Succeeded",
        2: "Queued",
        3: "Scheduled",
    }


def test_the_next_due_time_leaves_out_rows_waiting_for_an_earlier_run(db_engine: Engine) -> None:
    every_minute(db_engine, overlap_policy="queue")
    store = SqlDistributionStore(db_engine)
    now = T0 + timedelta(minutes=2, seconds=30)
    claim(db_engine, now)
    # Rows 1 and 2 wait for row 0: a wake-up at their time would find nothing to do.
    assert store.next_due_time(now) == T0 + timedelta(minutes=3)


@pytest.mark.parametrize(
    ("misfire", "claimed", "skipped"),
    [
        ("run_latest", [10], dict.fromkeys(range(10), "coalesced")),
        ("skip_missed", [9, 10], dict.fromkeys(range(9), "missed")),
    ],
)
def test_misfire_after_an_outage(
    db_engine: Engine, misfire: str, claimed: list[int], skipped: dict[int, str]
) -> None:
    task_id = every_minute(db_engine, misfire_policy=misfire, misfire_grace_s=90)
    # No distributor ran from T0 to T0+10min: eleven fire times are due at once.
    assert claim(db_engine, T0 + timedelta(minutes=10)) == claimed
    rows = rows_by_time(db_engine, task_id)
    assert {m: reason for m, (status, reason) in rows.items() if status == "Skipped"} == skipped


def test_skipped_rows_need_no_compute_in_the_forecast(db_engine: Engine) -> None:
    task_id = every_minute(db_engine, overlap_policy="skip")
    claim(db_engine, T0)
    claim(db_engine, T0 + timedelta(minutes=1))
    assert rows_by_time(db_engine, task_id)[1] == ("Skipped", "overlap")
    minutes = scheduled_summary(db_engine, T0, 3 / 60)
    assert [(m.scheduled_time, m.task_count) for m in minutes] == [(T0, 1), (T0 + timedelta(minutes=2), 1)]


def test_an_edit_to_the_policies_applies_to_the_rows_to_come(db_engine: Engine) -> None:
    task_id = every_minute(db_engine)
    assert claim(db_engine, T0) == [0]
    edit_task(db_engine, task_id, {"overlap_policy": "skip"}, T0 + timedelta(seconds=10))
    run_pass(db_engine, T0 + timedelta(seconds=10), forecast_hours=0.25)
    # The run already in flight counts as the earlier run under the new policy.
    assert claim(db_engine, T0 + timedelta(minutes=1)) == []
    assert rows_by_time(db_engine, task_id)[1] == ("Skipped", "overlap")


def test_misfire_applies_to_the_fire_times_a_late_scheduler_catches_up(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, T0 - timedelta(seconds=1), "* * * * *", misfire_policy="run_latest")
    run_pass(db_engine, T0 - timedelta(seconds=1), forecast_hours=1 / 60)  # rows up to T0 only
    # The Scheduler was down for ten minutes: its next pass adds the fire times it missed.
    run_pass(db_engine, T0 + timedelta(minutes=10), forecast_hours=1 / 60)
    assert claim(db_engine, T0 + timedelta(minutes=10)) == [10]
    skipped = {m for m, (status, reason) in rows_by_time(db_engine, task.id).items() if status == "Skipped"}
    assert skipped == set(range(10))


def test_tasks_sharing_an_ordering_key_start_one_at_a_time_in_scheduled_order(db_engine: Engine) -> None:
    created = T0 - timedelta(hours=1)
    spec = {"task_type": "http", "kind": "once", "ordering_key": "k"}
    # Created out of order: the key's order is the scheduled one, not the ids'.
    late = create_task(db_engine, TaskInput.model_validate(spec | {"name": "b", "run_at": T0}), created)
    earlier = spec | {"name": "a", "run_at": T0 - timedelta(minutes=1)}
    early = create_task(db_engine, TaskInput.model_validate(earlier), created)
    other = create_task(
        db_engine, TaskInput.model_validate(spec | {"name": "c", "run_at": T0, "ordering_key": "j"}), created
    )
    run_pass(db_engine, created)
    assert claim(db_engine, T0) == [-1, 0]  # the earliest of key k, and key j's only row
    assert claim(db_engine, T0) == []  # k waits for its run in flight
    finish(db_engine, early.id)
    assert claim(db_engine, T0) == [0]
    assert rows_by_time(db_engine, late.id) == {0: ("Queued", None)}
    assert rows_by_time(db_engine, other.id) == {0: ("Queued", None)}


def add_slow_type(engine: Engine) -> None:
    """A type whose runs are expected to last 2.5 minutes (no runs recorded)."""
    with engine.begin() as connection:
        connection.execute(
            insert(task_types).values(
                name="slow",
                handler="noop",
                expected_duration_ms=150_000,
                timeout_ms=600_000,
                max_attempts=1,
                config={},
            )
        )


def test_the_forecast_leaves_out_the_fire_times_a_skip_task_will_skip(db_engine: Engine) -> None:
    add_slow_type(db_engine)
    created = T0 - timedelta(seconds=1)
    add_cron_task(db_engine, created, "* * * * *", task_type="slow", overlap_policy="skip")
    add_cron_task(db_engine, created, "* * * * *", task_type="slow", name="plain")
    run_pass(db_engine, created, forecast_hours=0.25)
    minutes = forecast(db_engine, T0, hours=10 / 60)
    # Runs of 2.5 minutes: the skip task runs at 0, 3, 6 and 9; the plain task every minute.
    assert [m.task_count for m in minutes] == [2 if i % 3 == 0 else 1 for i in range(10)]


def test_forecast_snapshots_leave_out_the_fire_times_a_skip_task_will_skip(db_engine: Engine) -> None:
    add_slow_type(db_engine)
    created = T0 - timedelta(seconds=1)
    add_cron_task(db_engine, created, "* * * * *", task_type="slow", overlap_policy="skip")
    run_pass(db_engine, created, forecast_hours=4)
    take_snapshots(db_engine, T0, leads=[60, 61, 62, 63])
    with db_engine.connect() as connection:
        found = dict(
            connection.execute(select(forecast_snapshots.c.minute, forecast_snapshots.c.task_count)).all()
        )
    # Runs of 2.5 minutes from 13:00: 13:01 and 13:02 are expected skipped, recorded as 0.
    hour = T0 + timedelta(hours=1)
    assert {minute: found.get(minute, 0) for minute in (hour + timedelta(minutes=i) for i in range(4))} == {
        hour: 1,
        hour + timedelta(minutes=1): 0,
        hour + timedelta(minutes=2): 0,
        hour + timedelta(minutes=3): 1,
    }


def keyed_once(engine: Engine, name: str, run_at: datetime) -> int:
    """A once task of ordering key "k"."""
    spec = {"name": name, "task_type": "http", "kind": "once", "run_at": run_at, "ordering_key": "k"}
    task = create_task(engine, TaskInput.model_validate(spec), T0 - timedelta(hours=1))
    run_pass(engine, T0 - timedelta(hours=1))
    return task.id


def skipped_totals(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return skip_totals(connection)


def test_a_keyed_run_latest_task_runs_its_latest_missed_fire_time_once_in_order(db_engine: Engine) -> None:
    latest = every_minute(db_engine, misfire_policy="run_latest", misfire_grace_s=90, ordering_key="k")
    other = keyed_once(db_engine, "other", T0 + timedelta(minutes=5))
    # No distributor ran from T0 to T0+10min: the keyed task's missed fire times are coalesced
    # first, then the key starts its earliest row left, the other task's.
    assert claim(db_engine, T0 + timedelta(minutes=10)) == [5]
    rows = rows_by_time(db_engine, latest)
    assert {m: rows[m] for m in range(11)} == dict.fromkeys(range(10), ("Skipped", "coalesced")) | {
        10: ("Scheduled", None)
    }
    assert claim(db_engine, T0 + timedelta(minutes=10, seconds=10)) == []  # the key is busy
    finish(db_engine, other)
    assert claim(db_engine, T0 + timedelta(minutes=10, seconds=20)) == [10]
    assert rows_by_time(db_engine, latest)[10] == ("Queued", None)
    assert skipped_totals(db_engine)["coalesced"] == 10


def test_a_keyed_skip_task_skips_fire_times_due_while_its_run_is_pending(db_engine: Engine) -> None:
    skip = every_minute(db_engine, overlap_policy="skip", ordering_key="k")
    first = keyed_once(db_engine, "first", T0 + timedelta(seconds=30))
    second = keyed_once(db_engine, "second", T0 + timedelta(minutes=1, seconds=30))
    assert claim(db_engine, T0) == [0]
    # Its run in flight: the next fire time is skipped; the other task waits for the key.
    assert claim(db_engine, T0 + timedelta(minutes=1)) == []
    finish(db_engine, skip)
    assert claim(db_engine, T0 + timedelta(minutes=1, seconds=10)) == [0]  # "first", at 00:30
    # 2 waits its turn behind "first" and "second"; 3, due while 2 waits, is skipped.
    assert claim(db_engine, T0 + timedelta(minutes=3)) == []
    finish(db_engine, first)
    assert claim(db_engine, T0 + timedelta(minutes=3, seconds=10)) == [1]  # "second", at 01:30
    finish(db_engine, second)
    assert claim(db_engine, T0 + timedelta(minutes=3, seconds=20)) == [2]
    rows = rows_by_time(db_engine, skip)
    assert {m: rows[m] for m in range(4)} == {
        0: ("Succeeded", None),
        1: ("Skipped", "overlap"),
        2: ("Queued", None),
        3: ("Skipped", "overlap"),
    }
    assert skipped_totals(db_engine)["overlap"] == 2


def test_distributors_racing_for_a_keyed_policy_task_decide_each_row_once(pg_engine: Engine) -> None:
    latest = every_minute(pg_engine, misfire_policy="run_latest", misfire_grace_s=90, ordering_key="k")
    skip = every_minute(pg_engine, overlap_policy="skip", ordering_key="k", name="skip")
    stores = [SqlDistributionStore(pg_engine) for _ in range(4)]
    claimed: list[int] = []

    def race(now: datetime) -> None:
        barrier = threading.Barrier(len(stores))

        def one(i: int) -> None:
            barrier.wait()
            result = stores[i].claim(now, 100, f"d{i}", now + LEASE, [])
            claimed.extend(message.schedule_id for message in result.messages)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(stores))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    for minute in range(10, 14):
        for _ in range(3):  # a few loops each minute, every distributor at once
            race(T0 + timedelta(minutes=minute, seconds=5))
        finish(pg_engine, latest)
        finish(pg_engine, skip)
    # One run of the key at a time, so one claim a minute; the rest are decided once each.
    assert len(claimed) == len(set(claimed)) == 4
    rows = {("latest", m): row for m, row in rows_by_time(pg_engine, latest).items()}
    rows |= {("skip", m): row for m, row in rows_by_time(pg_engine, skip).items()}
    ran = sorted(key for key, (status, _) in rows.items() if status == "Succeeded")
    skipped = [reason for status, reason in rows.values() if status == "Skipped"]
    assert len(ran) == 4
    assert ("latest", 10) in ran  # the latest of the outage's fire times
    assert skipped_totals(pg_engine) == {
        "overlap": skipped.count("overlap"),
        "coalesced": skipped.count("coalesced"),
        "missed": 0,
    }
    assert skipped.count("coalesced") >= 10
