"""History at scale: the daily rollups change no number the views report, the migration
converts a database with data in place, and pruning removes exactly the rows the retention
rule allows. Both dialects."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from contextlib import ExitStack
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, inspect, select, text

from engine.adapters.database import create_db_engine
from engine.adapters.history_store import (
    PruneResult,
    _bind,
    count_prunable,
    history_stats,
    prune_history,
    read_watermark,
    roll_up_range,
    roll_up_runs,
)
from engine.adapters.migrations import upgrade
from engine.adapters.sql_queries import named_query
from engine.adapters.tables import (
    average_elapsed_time_per_task_type,
    task_run_rollup_buckets,
    task_run_rollups,
    task_runs,
    task_schedule,
    tasks,
)
from engine.core.durations import average_elapsed_ms
from engine.core.histogram import HISTORY_BOUNDS_MS, bucket_index
from engine.core.retention import is_prunable
from tests.conftest import PG_ADMIN_URL, fresh_pg_database, require_server
from tests.integration.helpers import database_now

pytestmark = pytest.mark.integration

STATUSES = ["Scheduled", "Queued", "Running", "Succeeded", "Failed", "Dead"]


def _add_task(connection: Any, now: datetime, task_type: str = "http") -> int:
    return int(
        connection.execute(
            insert(tasks)
            .values(name="t", task_type=task_type, kind="immediate", created_at=now, updated_at=now)
            .returning(tasks.c.id)
        ).scalar_one()
    )


def seed_history(
    engine: Engine, now: datetime, rng: random.Random, rows: int = 120, *, discard: bool = True,
    runs_carry_time: bool = True,
) -> list[dict[str, Any]]:
    """Schedule rows of every status spread over 400 days before `now` (a few ahead), with
    their attempts in task_runs; returns the schedule rows as written. With `discard`, half
    the dead letters were discarded (a column since 0010_dead_letter_discard). With
    `runs_carry_time` runs carry their row's scheduled_time (a column since
    0011_partitioned_history)."""
    written: list[dict[str, Any]] = []
    with engine.begin() as connection:
        task_ids = {t: _add_task(connection, now, t) for t in ("http", "reminder")}
        for index in range(rows):
            task_type = rng.choice(["http", "reminder"])
            due = now - timedelta(days=rng.randint(0, 400), seconds=rng.randint(0, 86_399))
            status = rng.choice(STATUSES)
            attempts = {"Scheduled": 0, "Queued": 0, "Running": 1}.get(status, rng.randint(1, 3))
            lag_ms = rng.choice([rng.randint(-50, 20_000), rng.randint(0, 4_000_000)]) if attempts else None
            finished = due + timedelta(seconds=rng.randint(1, 600)) if status in STATUSES[3:] else None
            retry = finished + timedelta(minutes=5) if status == "Failed" and index % 2 else None
            # Half the dead letters were discarded, up to 60 days after they died.
            discarded = (
                min(finished + timedelta(days=rng.randint(0, 60)), now)
                if discard and status == "Dead" and finished is not None and index % 2 == 0
                else None
            )
            row = {
                "task_id": task_ids[task_type],
                "scheduled_time": due,
                "status": status,
                "attempt": attempts,
                "started_at": due if attempts else None,
                "finished_at": finished,
                "next_attempt_at": retry,
                "start_lag_ms": lag_ms,
            }
            if discarded is not None:
                row["discarded_at"] = discarded
            row["id"] = connection.execute(
                insert(task_schedule).values(row).returning(task_schedule.c.id)
            ).scalar_one()
            written.append(row)
            finished_attempts = attempts - 1 if status == "Running" else attempts
            for attempt in range(1, finished_attempts + 1):
                started = due + timedelta(seconds=attempt)
                last = attempt == finished_attempts
                outcome = (
                    "succeeded" if status == "Succeeded" and last else rng.choice(["http_status", "timeout"])
                )
                connection.execute(
                    insert(task_runs).values(
                        schedule_id=row["id"],
                        **({"scheduled_time": due} if runs_carry_time else {}),
                        task_id=row["task_id"],
                        task_type=task_type,
                        attempt=attempt,
                        started_at=started,
                        finished_at=started,
                        elapsed_ms=None
                        if index % 17 == 0
                        else rng.choice([rng.randint(0, 12_000), 5_000_000]),
                        outcome=outcome,
                    )
                )
    return written


def view_rows(engine: Engine) -> dict[str, tuple[int, int]]:
    with engine.connect() as connection:
        return {
            r.task_type: (int(r.avg_elapsed_ms), int(r.run_count))
            for r in connection.execute(select(average_elapsed_time_per_task_type))
        }


def raw_average(engine: Engine, now: datetime) -> dict[str, tuple[int, int]]:
    """What the view must say, from every raw run of its window (the UTC day a year ago on)."""
    try:
        year_before = now.replace(year=now.year - 1)
    except ValueError:  # 29 February
        year_before = now.replace(year=now.year - 1, day=28)
    since = datetime.combine(year_before.date(), time(0), UTC)
    values: dict[str, list[int]] = defaultdict(list)
    with engine.connect() as connection:
        for task_type, started_at, elapsed in connection.execute(
            select(task_runs.c.task_type, task_runs.c.started_at, task_runs.c.elapsed_ms)
        ):
            if elapsed is not None and started_at >= since:
                values[task_type].append(elapsed)
    return {t: (average_elapsed_ms(v), len(v)) for t, v in values.items()}


def test_the_view_from_rollups_and_recent_runs_equals_the_raw_average(db_engine: Engine) -> None:
    now = database_now(db_engine).replace(microsecond=0)
    seed_history(db_engine, now, random.Random(3))
    expected = raw_average(db_engine, now)
    assert expected and view_rows(db_engine) == expected  # nothing rolled up yet
    with db_engine.connect() as connection:
        ids = sorted(connection.execute(select(task_runs.c.id)).scalars())
    with db_engine.begin() as connection:
        roll_up_range(connection, ids[len(ids) // 2])  # half rolled up, half raw
    assert view_rows(db_engine) == expected
    assert roll_up_runs(db_engine) == ids[-1]
    assert view_rows(db_engine) == expected
    seed_history(db_engine, now, random.Random(4), rows=30)  # new runs past the watermark
    assert view_rows(db_engine) == raw_average(db_engine, now)


def test_rollups_count_each_run_once_per_type_and_day_with_its_histograms(db_engine: Engine) -> None:
    now = database_now(db_engine).replace(microsecond=0)
    seed_history(db_engine, now, random.Random(5))
    roll_up_runs(db_engine, batch_ids=7)  # many small transactions
    roll_up_runs(db_engine)  # nothing new: nothing counted twice
    totals: dict[tuple[str, date], Counter[str]] = defaultdict(Counter)
    buckets: Counter[tuple[str, date, str, int]] = Counter()
    with db_engine.connect() as connection:
        lags = {r.id: r.start_lag_ms for r in connection.execute(select(task_schedule))}
        for run in connection.execute(select(task_runs)):
            key = (run.task_type, run.started_at.astimezone(UTC).date())
            total = totals[key]
            total["run_count"] += 1
            total["succeeded_count" if run.outcome == "succeeded" else "failed_count"] += 1
            if run.elapsed_ms is not None:
                total["elapsed_count"] += 1
                total["elapsed_ms_sum"] += run.elapsed_ms
                buckets[(*key, "elapsed", bucket_index(run.elapsed_ms))] += 1
            lag = lags.get(run.schedule_id) if run.attempt == 1 else None
            if lag is not None:
                total["start_lag_count"] += 1
                total["start_lag_ms_sum"] += lag
                buckets[(*key, "start_lag", bucket_index(lag))] += 1
        rollups = {
            (r.task_type, r.day): Counter(
                {k: v for k, v in r._mapping.items() if k not in ("task_type", "day") and v}
            )
            for r in connection.execute(select(task_run_rollups))
        }
        stored = Counter(
            {
                (r.task_type, r.day, r.measure, r.bucket): r.run_count
                for r in connection.execute(select(task_run_rollup_buckets))
            }
        )
    assert rollups == totals
    assert stored == buckets


def test_the_sql_buckets_are_the_core_bounds() -> None:
    for dialect in ("postgresql", "sqlite"):
        sql = named_query(dialect, "roll_up_run_buckets")
        pairs = [(int(bound), int(index)) for bound, index in re.findall(r"<= (\d+) THEN (\d+)", sql)]
        assert pairs == [(bound, index) for index, bound in enumerate(HISTORY_BOUNDS_MS)], dialect
        assert f"ELSE {len(HISTORY_BOUNDS_MS)}" in sql


def test_pruning_removes_exactly_what_the_retention_rule_allows(db_engine: Engine) -> None:
    now = database_now(db_engine).replace(microsecond=0)
    written = seed_history(db_engine, now, random.Random(11), rows=200)
    retention = timedelta(days=30)
    before = view_rows(db_engine)
    with db_engine.connect() as connection:
        would = count_prunable(connection, now, retention)
    result = prune_history(db_engine, now, retention, batch_rows=9)
    assert result == would and result.schedule_rows > 0
    expected_kept = {
        row["id"]
        for row in written
        if not is_prunable(
            row["status"],
            row["finished_at"],
            now,
            retention,
            retry_pending=row["next_attempt_at"] is not None,
            discarded_at=row.get("discarded_at"),
        )
    }
    with db_engine.connect() as connection:
        kept = set(connection.execute(select(task_schedule.c.id)).scalars())
        orphans = connection.execute(
            select(func.count()).select_from(task_runs).where(task_runs.c.schedule_id.not_in(kept))
        ).scalar_one()
    assert kept == expected_kept
    assert orphans == 0
    assert view_rows(db_engine) == before  # the statistics survive the raw rows
    assert prune_history(db_engine, now, retention) == PruneResult(0, 0)


def test_rows_whose_runs_are_not_rolled_up_are_not_pruned(db_engine: Engine) -> None:
    now = database_now(db_engine).replace(microsecond=0)
    seed_history(db_engine, now, random.Random(12), rows=60)
    with db_engine.connect() as connection:  # nothing rolled up yet: watermark 0
        rows = connection.execute(
            text(named_query(db_engine.dialect.name, "find_prunable_rows")),
            {
                "cutoff": _bind(connection, now - timedelta(days=30)),
                "after_time": _bind(connection, datetime(1970, 1, 1, tzinfo=UTC)),
                "after_id": 0,
                "rolled_up_run_id": read_watermark(connection),
                "batch_size": 1_000,
            },
        ).all()
        with_runs = set(connection.execute(select(task_runs.c.schedule_id)).scalars())
        prunable = count_prunable(connection, now, timedelta(days=30))
    # Every final row here has runs, and none of them is rolled up: nothing may go yet.
    assert prunable.schedule_rows > 0 and with_runs
    assert rows == []


def test_stats_report_rows_sizes_oldest_and_what_pruning_would_remove(db_engine: Engine) -> None:
    now = database_now(db_engine).replace(microsecond=0)
    written = seed_history(db_engine, now, random.Random(13), rows=50)
    stats = history_stats(db_engine, now, timedelta(days=30))
    by_name = {table.name: table for table in stats.tables}
    assert by_name["task_schedule"].rows == len(written)
    assert sum(stats.schedule_rows_by_status.values()) == len(written)
    assert stats.oldest_scheduled_time == min(row["scheduled_time"] for row in written)
    assert stats.prunable.schedule_rows > 0
    if db_engine.dialect.name == "postgresql":
        assert by_name["task_runs"].size_bytes and by_name["task_runs"].size_bytes > 0
    assert stats.database_size_bytes and stats.database_size_bytes > 0


def _migrated_to_0008_with_data(engine: Engine, now: datetime) -> None:
    upgrade(engine, "0008_reconcile")
    seed_history(engine, now, random.Random(21), rows=80, discard=False, runs_carry_time=False)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_migration_rolls_up_the_runs_of_an_existing_database(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    stack = ExitStack()
    request.addfinalizer(stack.close)
    if dialect == "postgresql":
        require_server(PG_ADMIN_URL, 5432, "PostgreSQL")
        url = stack.enter_context(fresh_pg_database("template0"))
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_db_engine(url)
    request.addfinalizer(engine.dispose)
    now = database_now(engine).replace(microsecond=0)
    _migrated_to_0008_with_data(engine, now)
    before = view_rows(engine)
    with engine.connect() as connection:
        last_run = connection.execute(select(func.max(task_runs.c.id))).scalar_one()
    upgrade(engine)
    with engine.connect() as connection:
        assert read_watermark(connection) == last_run
        rolled = connection.execute(select(func.sum(task_run_rollups.c.run_count))).scalar_one()
        runs = connection.execute(select(func.count()).select_from(task_runs)).scalar_one()
    assert rolled == runs
    assert view_rows(engine) == before == raw_average(engine, now)


def test_the_prunable_rows_have_their_own_index(db_engine: Engine) -> None:
    indexes = {index["name"]: index for index in inspect(db_engine).get_indexes("task_schedule")}
    prunable = indexes["task_schedule_prunable"]
    assert prunable["column_names"] == ["finished_at", "id"]
    predicate = str(prunable["dialect_options"][f"{db_engine.dialect.name}_where"])
    # Discarded dead letters are history too (0010_dead_letter_discard); live ones are not.
    assert "'Succeeded'" in predicate and "'Dead'" in predicate and "discarded_at IS NOT NULL" in predicate


def test_a_tasks_next_due_row_has_its_own_index(db_engine: Engine) -> None:
    indexes = {index["name"]: index for index in inspect(db_engine).get_indexes("task_schedule")}
    next_due = indexes["task_schedule_next_due"]
    assert next_due["column_names"] == ["task_id", "scheduled_time"]
    assert "'Scheduled'" in str(next_due["dialect_options"][f"{db_engine.dialect.name}_where"])


def test_the_roll_up_never_passes_a_run_whose_transaction_is_still_open(pg_engine: Engine) -> None:
    """An outcome written but not committed yet holds the roll-up off: the watermark cannot
    pass its id and leave it uncounted once it commits."""
    from sqlalchemy.exc import OperationalError

    now = database_now(pg_engine).replace(microsecond=0)
    seed_history(pg_engine, now, random.Random(41), rows=20)
    with pg_engine.connect() as writer:
        transaction = writer.begin()
        writer.execute(
            insert(task_runs).values(
                task_type="http",
                attempt=1,
                started_at=now,
                finished_at=now,
                elapsed_ms=7,
                outcome="succeeded",
            )
        )
        with pytest.raises(OperationalError, match="lock timeout"):
            roll_up_runs(pg_engine)
        transaction.commit()
    roll_up_runs(pg_engine)
    with pg_engine.connect() as connection:
        rolled = connection.execute(select(func.sum(task_run_rollups.c.run_count))).scalar_one()
        runs = connection.execute(select(func.count()).select_from(task_runs)).scalar_one()
    assert rolled == runs
