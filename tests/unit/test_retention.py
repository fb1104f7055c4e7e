"""Retention: only final rows older than the retention are prunable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.core.retention import is_prunable, retention_cutoff
from engine.core.types import ScheduleStatus

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
DAYS_30 = timedelta(days=30)
OLD = NOW - timedelta(days=31)
CUTOFF = NOW - DAYS_30


def test_the_cutoff_is_now_minus_the_retention() -> None:
    assert retention_cutoff(NOW, DAYS_30) == datetime(2026, 5, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("retention", [timedelta(0), timedelta(days=-1)])
def test_a_retention_that_is_not_positive_is_refused(retention: timedelta) -> None:
    with pytest.raises(ValueError, match="retention must be positive"):
        retention_cutoff(NOW, retention)


def test_a_success_older_than_the_retention_is_prunable() -> None:
    assert is_prunable(ScheduleStatus.SUCCEEDED, OLD, NOW, DAYS_30)
    assert is_prunable("Succeeded", CUTOFF - timedelta(microseconds=1), NOW, DAYS_30)


def test_a_row_finished_at_the_cutoff_or_later_is_kept() -> None:
    assert not is_prunable(ScheduleStatus.SUCCEEDED, CUTOFF, NOW, DAYS_30)
    assert not is_prunable(ScheduleStatus.SUCCEEDED, NOW - timedelta(days=1), NOW, DAYS_30)


def test_a_final_failure_is_prunable_but_one_awaiting_a_retry_is_kept() -> None:
    assert is_prunable(ScheduleStatus.FAILED, OLD, NOW, DAYS_30, retry_pending=False)
    assert not is_prunable(ScheduleStatus.FAILED, OLD, NOW, DAYS_30, retry_pending=True)
    # A caller that does not say is assumed not to know: the row stays.
    assert not is_prunable(ScheduleStatus.FAILED, OLD, NOW, DAYS_30)


@pytest.mark.parametrize(
    "status",
    [ScheduleStatus.SCHEDULED, ScheduleStatus.QUEUED, ScheduleStatus.RUNNING, ScheduleStatus.DEAD],
)
def test_rows_not_final_and_dead_letters_are_never_pruned_by_age(status: ScheduleStatus) -> None:
    ancient = NOW - timedelta(days=3650)
    assert not is_prunable(status, ancient, NOW, DAYS_30, retry_pending=False)
    assert not is_prunable(status, None, NOW, DAYS_30, retry_pending=False)


def test_a_final_row_without_a_finish_time_is_kept() -> None:
    assert not is_prunable(ScheduleStatus.SUCCEEDED, None, NOW, DAYS_30)


def test_an_unknown_status_is_an_error() -> None:
    with pytest.raises(ValueError):
        is_prunable("Finished", OLD, NOW, DAYS_30)


def test_a_dead_letter_goes_only_once_discarded_longer_ago_than_the_retention() -> None:
    assert is_prunable(ScheduleStatus.DEAD, OLD, NOW, DAYS_30, discarded_at=OLD + timedelta(hours=1))
    # Discarded, but within the retention: kept, however long ago it died.
    assert not is_prunable(ScheduleStatus.DEAD, OLD, NOW, DAYS_30, discarded_at=CUTOFF)
    assert not is_prunable(ScheduleStatus.DEAD, OLD, NOW, DAYS_30, discarded_at=NOW - timedelta(days=1))
    # Not discarded: a dead letter someone may still replay.
    assert not is_prunable(ScheduleStatus.DEAD, OLD, NOW, DAYS_30, discarded_at=None)
    assert not is_prunable(ScheduleStatus.DEAD, None, NOW, DAYS_30, discarded_at=OLD)


def test_a_skipped_fire_time_is_history_once_older_than_the_retention() -> None:
    assert is_prunable(ScheduleStatus.SKIPPED, OLD, NOW, DAYS_30)
    assert not is_prunable("Skipped", CUTOFF, NOW, DAYS_30)
