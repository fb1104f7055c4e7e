"""`headway_tasks{status="Dead"}` reads the dead letters not discarded from
`dead_letter_counts` (0018) on PostgreSQL, which triggers keep in the transactions that make
or unmake one: after every kind of write the count equals the rows counted one by one, and
/metrics reports it. SQLite counts the rows on each scrape; the same tests hold there. A stale
count would page someone for dead letters already replayed, or hide new ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, insert, select, text, update

from engine.adapters.database import create_db_engine, is_postgresql
from engine.adapters.dead_letter_counts import merge_dead_letter_counts
from engine.adapters.memory_broker import MemoryBroker
from engine.adapters.migrations import upgrade
from engine.adapters.partition_store import create_partition_pair, drop_old_partitions, ensure_partitions
from engine.adapters.run_store import bury_unstartable
from engine.adapters.schedule_counts import MERGE_LOCK
from engine.adapters.tables import task_schedule, tasks
from engine.core.partitions import range_containing
from engine.core.types import ScheduleStatus
from engine.processes.scheduler import run_pass
from engine.services.dead_letters import discard_dead_letters, replay_dead_letters
from engine.services.metrics_snapshot import collect_metrics
from tests.conftest import PG_ADMIN_URL, fresh_pg_database, require_server
from tests.integration import test_dependencies as dependencies
from tests.integration.conftest import Clock, make_app
from tests.integration.helpers import add_cron_task
from tests.integration.test_api_operations import scrape

pytestmark = pytest.mark.integration

NOW = dependencies.NOW
YEARLY = "0 0 1 1 *"
LIVE = (task_schedule.c.status == "Dead") & task_schedule.c.discarded_at.is_(None)


def counted(engine: Engine) -> int:
    """The live dead letters, counted one by one."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).where(LIVE)).scalar_one())


def kept_rows(engine: Engine) -> list[tuple[int, bool]]:
    with engine.connect() as connection:
        query = text("SELECT row_count, merged FROM dead_letter_counts ORDER BY merged, row_count")
        return [(int(n), bool(merged)) for n, merged in connection.execute(query)]


def assert_exact(engine: Engine, expected: int) -> None:
    """`expected` live dead letters: in the rows, in the kept count (PostgreSQL) and in the
    count /metrics reports."""
    assert counted(engine) == expected
    if is_postgresql(engine):
        assert sum(n for n, _ in kept_rows(engine)) == expected
    assert collect_metrics(engine, NOW).tasks_by_status["Dead"] == expected


def add_rows(engine: Engine, task_id: int, *statuses: str, at: datetime = NOW) -> list[int]:
    """One row of `task_id` per status, a minute apart from `at` back."""
    with engine.begin() as connection:
        return [
            connection.execute(
                insert(task_schedule)
                .values(task_id=task_id, scheduled_time=at - timedelta(minutes=i), status=status, attempt=3)
                .returning(task_schedule.c.id)
            ).scalar_one()
            for i, status in enumerate(statuses)
        ]


def set_row(engine: Engine, row_id: int, **values: object) -> None:
    with engine.begin() as connection:
        connection.execute(update(task_schedule).where(task_schedule.c.id == row_id).values(**values))


def test_the_count_follows_finishes_burials_replays_discards_and_deletions(db_engine: Engine) -> None:
    assert_exact(db_engine, 0)
    runs = [dependencies.run_upstream(db_engine, dependencies.task(db_engine, f"t{i}")) for i in range(3)]
    dependencies.finish(db_engine, runs[0], ScheduleStatus.DEAD)
    dependencies.finish(db_engine, runs[1], ScheduleStatus.DEAD)
    dependencies.finish(db_engine, runs[2], ScheduleStatus.FAILED, retry_at=NOW + timedelta(seconds=5))
    assert_exact(db_engine, 2)  # a retry pending is no dead letter

    waiting = dependencies.task(db_engine, "unstartable")
    run_pass(db_engine, NOW)
    with db_engine.begin() as connection:
        query = select(task_schedule.c.id).where(task_schedule.c.task_id == waiting)
        row = connection.execute(query).scalar_one()
        assert bury_unstartable(connection, row, "payload refused", NOW)
        assert not bury_unstartable(connection, row, "again", NOW)  # Dead already: unchanged
    assert_exact(db_engine, 3)

    first, second = runs[0].message.schedule_id, runs[1].message.schedule_id
    assert replay_dead_letters(db_engine, MemoryBroker(), {first}, 10).replayed == 1
    assert_exact(db_engine, 2)
    assert discard_dead_letters(db_engine, MemoryBroker(), {second}, 10, NOW).discarded == 1
    assert_exact(db_engine, 1)
    set_row(db_engine, second, last_error="edited by hand")  # a discarded row stays out
    assert_exact(db_engine, 1)

    # A task's rows go with it (as `headway demo --remove` deletes its tasks): its dead
    # letters, discarded or not, and its other rows.
    doomed = add_cron_task(db_engine, NOW, YEARLY, name="doomed")
    add_rows(db_engine, doomed.id, "Dead", "Dead", "Succeeded", "Scheduled")
    assert_exact(db_engine, 3)
    with db_engine.begin() as connection:
        connection.execute(delete(tasks).where(tasks.c.id == doomed.id))
    assert_exact(db_engine, 1)

    with TestClient(make_app(db_engine, Clock(NOW))) as api:
        samples = scrape(api)
    statuses = {dict(labels)["status"]: value for labels, value in samples["headway_tasks"].items()}
    assert statuses["Dead"] == 1


def test_the_schedulers_pass_merges_the_count_into_one_row(pg_engine: Engine) -> None:
    task = add_cron_task(pg_engine, NOW, YEARLY)
    dead = add_rows(pg_engine, task.id, "Dead", "Dead", "Dead")
    set_row(pg_engine, dead[0], status="Scheduled")
    assert kept_rows(pg_engine) == [(-1, False), (1, False), (1, False), (1, False), (0, True)]
    run_pass(pg_engine, NOW)  # a full pass, then the merges
    assert kept_rows(pg_engine) == [(2, True)]
    assert_exact(pg_engine, 2)
    run_pass(pg_engine, NOW)  # nothing appended: the merged row stays as it is
    assert kept_rows(pg_engine) == [(2, True)]


def test_writers_and_merges_never_wait_for_each_other(pg_engine: Engine) -> None:
    # Each waits at most a second: a lock timeout would fail the test.
    task = add_cron_task(pg_engine, NOW, YEARLY)
    first, second = add_rows(pg_engine, task.id, "Scheduled", "Queued")
    with pg_engine.connect() as writer, pg_engine.connect() as other, writer.begin():
        assert bury_unstartable(writer, first, "refused", NOW)  # not committed yet
        with other.begin():
            other.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
            assert bury_unstartable(other, second, "refused", NOW)
        with other.begin():
            other.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
            other.execute(select(func.pg_advisory_xact_lock(MERGE_LOCK)))
            merge_dead_letter_counts(other)
        assert_exact(pg_engine, 1)  # the writer's row and its +1 are not visible yet
    assert kept_rows(pg_engine) == [(1, False), (1, True)]
    assert_exact(pg_engine, 2)


def test_truncate_resets_the_count(pg_engine: Engine) -> None:
    task = add_cron_task(pg_engine, NOW, YEARLY)
    add_rows(pg_engine, task.id, "Dead", "Dead")
    with pg_engine.begin() as connection:
        connection.execute(text("TRUNCATE task_schedule CASCADE"))
    assert kept_rows(pg_engine) == [(0, True)]
    assert_exact(pg_engine, 0)


OLD = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
RETENTION = timedelta(days=30)


def test_a_dropped_week_keeps_its_dead_letters_counted_once(pg_engine: Engine) -> None:
    week = range_containing(OLD)
    with pg_engine.begin() as connection:
        create_partition_pair(connection, week)
    task = add_cron_task(pg_engine, OLD - timedelta(days=7), YEARLY)
    kept = add_rows(pg_engine, task.id, "Dead", "Dead", "Dead", at=OLD)
    gone = add_rows(pg_engine, task.id, "Dead", "Dead", "Succeeded", at=OLD - timedelta(hours=1))
    long_ago = OLD + timedelta(days=1)
    with pg_engine.begin() as connection:
        connection.execute(
            update(task_schedule).where(task_schedule.c.id.in_(gone)).values(finished_at=long_ago)
        )
        connection.execute(
            update(task_schedule).where(task_schedule.c.id.in_(gone[:2])).values(discarded_at=long_ago)
        )
    assert_exact(pg_engine, 3)

    removed = drop_old_partitions(pg_engine, week.end + RETENTION)

    assert (removed.weeks, removed.schedule_rows) == (1, 3)
    with pg_engine.connect() as connection:
        left = connection.execute(
            text("SELECT id, tableoid::regclass::text FROM task_schedule ORDER BY id")
        ).all()
    assert [tuple(row) for row in left] == [(row_id, "task_schedule_default") for row_id in kept]
    assert_exact(pg_engine, 3)

    # Created again, the week takes its dead letters back from the default partition.
    with pg_engine.begin() as connection:
        assert ensure_partitions(connection, OLD, ahead=timedelta(0)) == [week]
    assert_exact(pg_engine, 3)


@pytest.fixture
def old_database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An empty database on the dialect of the test's parameter, not migrated yet."""
    if request.param == "postgresql":
        require_server(PG_ADMIN_URL, 5432, "PostgreSQL")
        with fresh_pg_database("template0") as url:
            engine = create_db_engine(url)
            yield engine
            engine.dispose()
    else:
        engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()


@pytest.mark.parametrize("old_database", ["sqlite", "postgresql"], indirect=True)
def test_the_migration_counts_the_dead_letters_already_there(old_database: Engine) -> None:
    engine = old_database
    upgrade(engine, "0017_schedule_minute_counts")
    task = add_cron_task(engine, NOW, YEARLY)
    rows = add_rows(engine, task.id, "Dead", "Dead", "Dead", "Dead", "Failed", "Succeeded")
    set_row(engine, rows[0], discarded_at=NOW)
    upgrade(engine)
    if is_postgresql(engine):
        assert kept_rows(engine) == [(3, True)]
    assert_exact(engine, 3)
