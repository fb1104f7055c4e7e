"""The forecast counts a window from `schedule_minute_counts` (0017), which triggers keep in
the transactions that write the rows: on both dialects, after every kind of write, the counts
equal the rows counted one by one, and so do the forecast and /scaling/processors. A stale
count would scale the processors for work that is gone, or not for work that came."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select, text, update

from engine.adapters.database import create_db_engine
from engine.adapters.forecast_store import count_runs_per_minute_and_type
from engine.adapters.partition_store import ensure_partitions
from engine.adapters.schedule_counts import merge_counts, recount_minutes
from engine.adapters.sql_stores import SqlDistributionStore
from engine.adapters.tables import task_schedule
from engine.core.forecast import MINUTE
from engine.core.partitions import range_containing
from engine.core.types import ScheduleStatus
from engine.processes.scheduler import run_pass
from engine.services.forecast import forecast
from engine.services.scaling import processors_target
from engine.services.tasks import edit_task, run_now, set_active, set_inactive
from tests.integration import test_dependencies as dependencies
from tests.integration.helpers import add_cron_task, add_tasks, counted_rows, kept_counts

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, 12, 0, 20, tzinfo=UTC)
LEASE = timedelta(hours=1)


def assert_exact(engine: Engine) -> None:
    """The kept counts are the rows' counts, every minute and type, and the forecast's read
    of the next three hours returns the rows' counts of that window."""
    rows = counted_rows(engine)
    assert kept_counts(engine) == rows
    first = NOW.replace(second=0)
    end = first + timedelta(hours=3)
    with engine.connect() as connection:
        window = count_runs_per_minute_and_type(connection, first, end)
    assert window == {key: count for key, count in rows.items() if first <= key[0] < end}


def test_counts_follow_passes_edits_inactivation_claims_and_skips(db_engine: Engine) -> None:
    every_minute = add_cron_task(db_engine, NOW, "* * * * *", task_type="notification")
    every_5 = add_cron_task(db_engine, NOW, "*/5 * * * *", name="five")
    skip = add_cron_task(db_engine, NOW, "* * * * *", name="skip", overlap_policy="skip")
    once = add_tasks(
        db_engine, 3, NOW, {}, task_type="reminder", kind="once", run_at=NOW + timedelta(minutes=7)
    )
    add_tasks(db_engine, 2, NOW, {})  # immediate
    assert run_pass(db_engine, NOW, forecast_hours=3).rows_inserted > 300
    assert_exact(db_engine)
    assert kept_counts(db_engine)[(NOW.replace(second=0) + 7 * MINUTE, "reminder")] == 3

    # Claims, starts and skips change statuses only: the counts stay as they were.
    store = SqlDistributionStore(db_engine)
    for minute in range(4):
        at = NOW + minute * MINUTE
        store.claim(at, 100, "d1", at + LEASE, [])
    with db_engine.connect() as connection:
        statuses = set(connection.execute(select(task_schedule.c.status).distinct()).scalars())
    assert {"Queued", "Skipped", "Scheduled"} <= statuses
    assert_exact(db_engine)

    edit_task(db_engine, every_5.id, {"cron_expression": "*/2 * * * *"}, NOW)
    edit_task(db_engine, every_minute.id, {"task_type": "reminder"}, NOW)
    set_inactive(db_engine, skip.id, NOW)
    run_now(db_engine, once[0], NOW + timedelta(seconds=5))
    assert_exact(db_engine)  # the edited task's rows are gone until the next pass
    run_pass(db_engine, NOW + timedelta(seconds=30), only_unmaterialised=True)
    set_active(db_engine, skip.id, NOW + MINUTE)
    run_pass(db_engine, NOW + MINUTE, forecast_hours=3)
    assert_exact(db_engine)

    later = NOW + timedelta(hours=2)  # the next day's rows come with the horizon
    run_pass(db_engine, later, forecast_hours=12)
    assert_exact(db_engine)


def test_other_writers_are_counted_too(db_engine: Engine) -> None:
    task = add_cron_task(db_engine, NOW, "*/3 * * * *", task_type="http")
    run_pass(db_engine, NOW, forecast_hours=1)
    with db_engine.begin() as connection:  # a row written without its type (0013 fills it in)
        connection.execute(
            insert(task_schedule).values(task_id=task.id, scheduled_time=NOW + timedelta(seconds=7))
        )
    assert_exact(db_engine)
    with db_engine.begin() as connection:
        connection.execute(task_schedule.delete().where(task_schedule.c.scheduled_time < NOW + 30 * MINUTE))
    assert_exact(db_engine)


def test_a_row_moved_in_time_is_counted_again(sqlite_engine: Engine) -> None:
    # SQLite's triggers on UPDATE OF a column cost nothing to an update that does not set it;
    # PostgreSQL has none (see the next test).
    task = add_cron_task(sqlite_engine, NOW, "*/3 * * * *")
    run_pass(sqlite_engine, NOW, forecast_hours=1)
    with sqlite_engine.begin() as connection:
        moved = connection.execute(
            update(task_schedule)
            .where(task_schedule.c.task_id == task.id, task_schedule.c.scheduled_time < NOW + 4 * MINUTE)
            .values(scheduled_time=NOW + timedelta(minutes=44, seconds=1))
        )
    assert moved.rowcount == 1
    assert_exact(sqlite_engine)


def test_no_trigger_but_a_guarded_one_meets_the_updates_of_claims_starts_and_finishes(
    pg_engine: Engine,
) -> None:
    # The distributor's and processor's writes update rows; an UPDATE trigger on
    # task_schedule costs them per row. The one there is the dead-letter count's (0018): run
    # after the update, and only for a row whose WHEN says it became or stopped being a live
    # dead letter; a BEFORE trigger would lock and run for every row.
    with pg_engine.connect() as connection:
        on_update = connection.execute(
            text(
                "SELECT tgname, tgtype & 2 <> 0 AS before, tgqual IS NOT NULL AS guarded "
                "FROM pg_trigger WHERE tgrelid = 'task_schedule'::regclass "
                "AND NOT tgisinternal AND tgtype & 16 <> 0"  # TRIGGER_TYPE_UPDATE
            )
        ).all()
    assert [tuple(row) for row in on_update] == [("task_schedule_dead_letter_changed", False, True)]


def test_the_scaling_target_is_the_forecasts_after_the_writes(db_engine: Engine) -> None:
    add_cron_task(db_engine, NOW, "* * * * *", task_type="notification")
    ids = add_tasks(db_engine, 40, NOW, {}, kind="once", run_at=NOW + timedelta(minutes=9))
    run_pass(db_engine, NOW)
    before = processors_target(db_engine, NOW, 15, 5, 1)
    for task_id in ids[:25]:
        set_inactive(db_engine, task_id, NOW)
    after = processors_target(db_engine, NOW, 15, 5, 1)
    series = forecast(
        db_engine, after.window.first, (after.window.end - after.window.first) / timedelta(hours=1)
    )
    assert after.worker_slots == max(m.required_instances for m in series)
    assert after.worker_slots < before.worker_slots
    assert_exact(db_engine)


def test_merging_keeps_the_sums_and_leaves_one_row_per_minute_and_type(pg_engine: Engine) -> None:
    task = add_cron_task(pg_engine, NOW, "* * * * *")
    for index in range(4):  # four statements, four signed rows per minute
        add_tasks(pg_engine, 1, NOW, {}, kind="once", run_at=NOW + timedelta(minutes=2, seconds=index))
        run_pass(pg_engine, NOW, only_unmaterialised=True)
    set_inactive(pg_engine, task.id, NOW)
    with pg_engine.begin() as connection:
        assert merge_counts(connection)
    with pg_engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT minute, task_type, COUNT(*) AS n, bool_and(merged) AS merged "
                "FROM schedule_minute_counts GROUP BY 1, 2"
            )
        ).all()
    assert rows and all(row.n == 1 and row.merged for row in rows)
    assert_exact(pg_engine)


def test_a_merge_leaves_the_counts_of_a_writer_not_yet_committed(pg_url: str) -> None:
    first, second = create_db_engine(pg_url), create_db_engine(pg_url)
    try:
        add_cron_task(first, NOW, "* * * * *")
        run_pass(first, NOW, forecast_hours=1)
        task = add_cron_task(first, NOW, "*/2 * * * *", name="late")
        with first.begin() as writer:
            writer.execute(
                insert(task_schedule),
                [{"task_id": task.id, "scheduled_time": NOW + i * MINUTE} for i in range(1, 30)],
            )
            merged = threading.Event()

            def merge() -> None:
                with second.begin() as connection:
                    merge_counts(connection)
                merged.set()

            thread = threading.Thread(target=merge)
            thread.start()
            thread.join(timeout=10)
            assert merged.is_set()  # the merge does not wait for the writer
        with second.begin() as connection:
            merge_counts(connection)
        assert_exact(first)
    finally:
        first.dispose()
        second.dispose()


def test_partition_changes_are_recounted(pg_engine: Engine) -> None:
    far = NOW + timedelta(days=70)  # beyond the weeks the migration made: default partition
    task = add_cron_task(pg_engine, NOW, "*/30 * * * *")
    with pg_engine.begin() as connection:
        connection.execute(
            insert(task_schedule),
            [{"task_id": task.id, "scheduled_time": far + i * 7 * MINUTE} for i in range(20)],
        )
    assert_exact(pg_engine)
    with pg_engine.begin() as connection:
        assert ensure_partitions(connection, far)  # moves them into their week's partition
    assert_exact(pg_engine)
    # No Headway write moves a row in time, and PostgreSQL has no trigger for it (it would
    # run for every row a claim updates): a hand-made move is recounted under the lock.
    week = range_containing(far)
    with pg_engine.begin() as connection:
        connection.execute(text("LOCK TABLE task_schedule IN ACCESS EXCLUSIVE MODE"))
        connection.execute(
            text(
                "UPDATE task_schedule SET scheduled_time = scheduled_time - INTERVAL '60 days' "
                "WHERE scheduled_time >= :start AND scheduled_time < :end"
            ),
            {"start": week.start, "end": week.end},
        )
        recount_minutes(connection, week.start, week.end)
        earlier = range_containing(far - timedelta(days=60))
        recount_minutes(connection, earlier.start, earlier.end)
    assert_exact(pg_engine)
    with pg_engine.begin() as connection:
        connection.execute(text("TRUNCATE task_schedule CASCADE"))
    assert kept_counts(pg_engine) == {}


def test_a_row_an_upstream_outcome_writes_is_counted(db_engine: Engine) -> None:
    upstream = dependencies.task(db_engine, "extract")
    dependent = dependencies.after(db_engine, "load", upstream)
    run = dependencies.run_upstream(db_engine, upstream)
    dependencies.finish(db_engine, run, ScheduleStatus.SUCCEEDED)
    assert len(dependencies.rows_of(db_engine, dependent)) == 1
    assert kept_counts(db_engine) == counted_rows(db_engine)
