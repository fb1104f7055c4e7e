"""PostgreSQL's weekly partitions of the history (0011_partitioned_history): the migration
converts a database with data in place, rows beyond the weeks created wait in the default
partition and move into their week when it is created, and pruning drops whole old weeks
while keeping every row that is not history yet."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from engine.adapters.database import create_db_engine
from engine.adapters.history_store import history_stats, prune_history, read_watermark
from engine.adapters.migrations import upgrade
from engine.adapters.partition_store import create_partition_pair, ensure_partitions, existing_ranges
from engine.adapters.tables import task_run_rollups, task_runs, task_schedule
from engine.core.partitions import range_containing, ranges_to_create
from engine.core.retention import is_prunable
from tests.conftest import PG_ADMIN_URL, fresh_pg_database, require_server
from tests.integration.helpers import counted_rows, kept_counts
from tests.integration.test_history import raw_average, seed_history, view_rows

pytestmark = pytest.mark.integration

RETENTION = timedelta(days=30)
RUN_COLUMNS = (
    "SELECT id, schedule_id, task_type, attempt, started_at, elapsed_ms, outcome FROM task_runs ORDER BY id"
)


def _where(engine: Engine, table: str) -> dict[int, str]:
    """Each row's id and the partition holding it."""
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT id, tableoid::regclass::text AS part FROM {table}")).all()
    return {int(row.id): str(row.part) for row in rows}


@pytest.fixture
def old_database() -> Iterator[Engine]:
    require_server(PG_ADMIN_URL, 5432, "PostgreSQL")
    with fresh_pg_database("template0") as url:
        engine = create_db_engine(url)
        yield engine
        engine.dispose()


# The columns of task_schedule before the later revisions (0012_task_policies,
# 0013_schedule_task_type, 0015_task_dependencies) added theirs.
LATER_COLUMNS = {"skip_reason", "policy_claim", "task_type", "upstream_schedule_id"}
COLUMNS_0010 = [column for column in task_schedule.c if column.name not in LATER_COLUMNS]


def test_the_migration_converts_a_database_with_data_in_place(old_database: Engine) -> None:
    engine = old_database
    now = datetime.now(UTC).replace(microsecond=0)
    upgrade(engine, "0010_dead_letter_discard")
    seed_history(engine, now, random.Random(7), rows=150, runs_carry_time=False)
    with engine.connect() as connection:
        schedule_before = connection.execute(select(*COLUMNS_0010).order_by(task_schedule.c.id)).all()
        runs_before = connection.execute(text(RUN_COLUMNS)).all()
    view_before = view_rows(engine)

    upgrade(engine, "0011_partitioned_history")

    with engine.connect() as connection:
        assert connection.execute(select(*COLUMNS_0010).order_by(task_schedule.c.id)).all() == schedule_before
        assert connection.execute(text(RUN_COLUMNS)).all() == runs_before
        # Every run carries its schedule row's time, and sits in that row's week.
        mismatched = connection.execute(
            text(
                "SELECT COUNT(*) FROM task_runs r JOIN task_schedule s ON s.id = r.schedule_id "
                "WHERE r.scheduled_time IS DISTINCT FROM s.scheduled_time"
            )
        ).scalar_one()
        assert mismatched == 0
        weeks = existing_ranges(connection)
    assert set(ranges_to_create(now)) <= set(weeks)
    assert view_rows(engine) == view_before == raw_average(engine, now)
    in_default = {i for i, part in _where(engine, "task_schedule").items() if part == "task_schedule_default"}
    for row in schedule_before:
        assert (row.id in in_default) == (range_containing(row.scheduled_time) not in weeks)

    # The constraints hold: one row per fire time, runs name an existing schedule row, new
    # ids continue after the copied ones.
    row = schedule_before[-1]
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            insert(task_schedule).values(task_id=row.task_id, scheduled_time=row.scheduled_time)
        )
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            insert(task_runs).values(
                schedule_id=row.id + 10_000,
                scheduled_time=row.scheduled_time,
                task_type="http",
                attempt=1,
                started_at=now,
            )
        )
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            insert(task_runs).values(schedule_id=row.id, task_type="http", attempt=1, started_at=now)
        )
    with engine.begin() as connection:
        new_id = connection.execute(
            insert(task_schedule)
            .values(task_id=row.task_id, scheduled_time=now)
            .returning(task_schedule.c.id)
        ).scalar_one()
    assert new_id > max(r.id for r in schedule_before)


def test_a_row_beyond_the_created_weeks_waits_in_the_default_partition_then_moves(pg_engine: Engine) -> None:
    now = datetime.now(UTC)
    far = now + timedelta(days=60)
    seed = seed_history(pg_engine, far, random.Random(3), rows=1)  # makes the task
    with pg_engine.begin() as connection:
        schedule_id = connection.execute(
            insert(task_schedule)
            .values(
                task_id=seed[0]["task_id"], scheduled_time=far + timedelta(days=1), status="Failed", attempt=1
            )
            .returning(task_schedule.c.id)
        ).scalar_one()
        connection.execute(
            insert(task_runs).values(
                schedule_id=schedule_id,
                scheduled_time=far + timedelta(days=1),
                task_type="http",
                attempt=1,
                started_at=now,
            )
        )
    assert _where(pg_engine, "task_schedule")[schedule_id] == "task_schedule_default"
    with pg_engine.begin() as connection:
        created = ensure_partitions(connection, far)
    assert range_containing(far + timedelta(days=1)) in created
    week = range_containing(far + timedelta(days=1))
    name = f"task_schedule_p{week.start:%Y%m%d}"
    assert _where(pg_engine, "task_schedule")[schedule_id] == name
    assert set(_where(pg_engine, "task_runs").values()) >= {name.replace("schedule", "runs")}
    with pg_engine.begin() as connection:  # a second call has nothing to do
        assert ensure_partitions(connection, far) == []


def test_pruning_drops_old_weeks_whole_and_keeps_what_is_not_history(pg_engine: Engine) -> None:
    now = datetime.now(UTC)
    with pg_engine.begin() as connection:
        week = range_containing(now - timedelta(days=70))
        while week.start < now:
            if week not in existing_ranges(connection):
                create_partition_pair(connection, week)
            week = range_containing(week.end)
    seeded = seed_history(pg_engine, now, random.Random(17), rows=400)
    with pg_engine.connect() as connection:
        runs_before = connection.execute(select(func.count()).select_from(task_runs)).scalar_one()
        weeks_before = existing_ranges(connection)
    cutoff = now - RETENTION

    result = prune_history(pg_engine, now, RETENTION)

    with pg_engine.connect() as connection:
        weeks_after = existing_ranges(connection)
        kept = set(connection.execute(select(task_schedule.c.id)).scalars())
        runs_after = connection.execute(select(func.count()).select_from(task_runs)).scalar_one()
        orphans = connection.execute(
            text(
                "SELECT COUNT(*) FROM task_runs r WHERE r.schedule_id IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM task_schedule s WHERE s.id = r.schedule_id)"
            )
        ).scalar_one()
        rolled = connection.execute(select(func.sum(task_run_rollups.c.run_count))).scalar_one()
        watermark = read_watermark(connection)
    dropped = [w for w in weeks_before if w.end <= cutoff]
    assert dropped and not set(dropped) & set(weeks_after)
    # A week is dropped whole once it ends before the cutoff: the week holding the cutoff
    # keeps its finished rows for now, however old (which of them there are depends on the
    # instant the test runs). Rows with no week (the default partition) go row by row.
    expected = {
        row["id"]
        for row in seeded
        if range_containing(row["scheduled_time"]) in weeks_after
        or not is_prunable(
            row["status"],
            row["finished_at"],
            now,
            RETENTION,
            retry_pending=row["next_attempt_at"] is not None,
            discarded_at=row.get("discarded_at"),
        )
    }
    assert kept == expected
    assert result.schedule_rows == len(seeded) - len(kept)
    assert runs_after == runs_before - result.run_rows
    assert orphans == 0
    assert int(rolled) == runs_before and watermark > 0
    # The kept rows of the dropped weeks now wait in the default partition.
    where = _where(pg_engine, "task_schedule")
    for row in seeded:
        if row["id"] in kept and range_containing(row["scheduled_time"]) in dropped:
            assert where[row["id"]] == "task_schedule_default"
    stats = history_stats(pg_engine, now, RETENTION)
    assert {p.name for p in stats.partitions} >= {"task_schedule_default", "task_runs_default"}
    assert sum(p.rows for p in stats.partitions if p.table == "task_schedule") == len(kept)
    assert {t.name: t.rows for t in stats.tables}["task_schedule"] == len(kept)
    assert kept_counts(pg_engine) == counted_rows(pg_engine)  # the forecast's counts (0017)
    assert all(t.size_bytes for t in stats.tables if t.name in ("task_schedule", "task_runs"))
    assert stats.prunable.schedule_rows == 0
