"""Durations, failures and run counts per type from one query
(`summarize_attempts_per_hour_type_and_bucket`), on both dialects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from engine.adapters.tables import task_runs
from engine.core.attempt_stats import FailureHour, TypeDurations
from engine.services.run_stats import attempt_summary

NOW = datetime(2026, 3, 2, 10, 30, 30, tzinfo=UTC)


def attempt(
    task_type: str, started: datetime, elapsed_ms: int | None, outcome: str | None
) -> dict[str, object]:
    finished = started + timedelta(milliseconds=elapsed_ms) if elapsed_ms is not None else None
    return {
        "task_type": task_type,
        "attempt": 1,
        "started_at": started,
        "finished_at": finished,
        "elapsed_ms": elapsed_ms,
        "outcome": outcome,
    }


def seed(engine: Engine) -> None:
    ten, nine = NOW.replace(minute=5), NOW.replace(hour=9, minute=15)
    with engine.begin() as connection:
        connection.execute(
            insert(task_runs),
            [
                attempt("http", ten, 100, "succeeded"),
                attempt("http", ten, 200, "succeeded"),
                attempt("http", ten, 400, "succeeded"),
                attempt("http", ten, 1_000, "timeout"),
                attempt("http", nine, 300, "http_status"),
                attempt("http", ten, None, None),  # running: only a run count
                attempt("reminder", nine, 50, "timeout"),
                attempt("reminder", nine, 12_345, "succeeded"),
                attempt("http", NOW - timedelta(days=2), 9_000, "succeeded"),  # before the window
            ],
        )


def test_durations_per_type_say_which_average_is_which(db_engine: Engine) -> None:
    seed(db_engine)
    assert attempt_summary(db_engine, NOW - timedelta(hours=24), NOW).durations == [
        TypeDurations(
            "http", 5, 2, avg_elapsed_ms=400, avg_succeeded_ms=233, p50_ms=309, p95_ms=1_000, max_ms=1_000
        ),
        TypeDurations(
            "reminder",
            2,
            1,
            avg_elapsed_ms=6_198,  # (50 + 12,345) / 2 = 6,197.5, rounded half up as the view does
            avg_succeeded_ms=12_345,
            p50_ms=59,
            p95_ms=12_345,
            max_ms=12_345,
        ),
    ]


def test_failures_per_hour_and_type(db_engine: Engine) -> None:
    seed(db_engine)
    nine, ten = NOW.replace(hour=9, minute=0, second=0), NOW.replace(minute=0, second=0)
    assert attempt_summary(db_engine, NOW - timedelta(hours=24), NOW).failures == [
        FailureHour(nine, "http", 1, 1),
        FailureHour(nine, "reminder", 2, 1),
        FailureHour(ten, "http", 4, 1),
    ]


def test_run_counts_per_type_and_outcome_include_unfinished_runs(db_engine: Engine) -> None:
    seed(db_engine)
    assert attempt_summary(db_engine, NOW - timedelta(hours=24), NOW).run_counts == {
        ("http", "succeeded"): 3,
        ("http", "timeout"): 1,
        ("http", "http_status"): 1,
        ("http", None): 1,
        ("reminder", "timeout"): 1,
        ("reminder", "succeeded"): 1,
    }
    assert attempt_summary(db_engine, NOW - timedelta(minutes=20), NOW).run_counts == {}


def test_an_empty_window_has_no_figures(db_engine: Engine) -> None:
    summary = attempt_summary(db_engine, NOW - timedelta(hours=1), NOW)
    assert (summary.durations, summary.failures, summary.run_counts) == ([], [], {})
