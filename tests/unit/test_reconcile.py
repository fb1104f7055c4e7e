"""Which rows have stopped moving, and the confirmation that spares live processors' rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.core.reconcile import RowSnapshot, StuckKind, StuckWatch, attempt_after_redrive, stuck_kind
from engine.core.types import ScheduleStatus

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
S = ScheduleStatus


def row(status: ScheduleStatus, attempt: int = 1, **fields: object) -> RowSnapshot:
    values: dict[str, object] = {
        "claimed_by": None,
        "lease_expires_at": None,
        "queued_at": None,
        "next_attempt_at": None,
        "finished_at": None,
    }
    values.update(fields)
    return RowSnapshot(7, status, attempt, **values)  # type: ignore[arg-type]


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return NOW.replace(hour=hour, minute=minute, second=second)


@pytest.mark.parametrize(
    ("snapshot", "kind"),
    [
        (row(S.QUEUED, 0, queued_at=at(11, 49)), StuckKind.QUEUED_UNSTARTED),
        (row(S.QUEUED, 0, queued_at=at(11, 51)), None),
        (row(S.QUEUED, 0, queued_at=at(11, 0), lease_expires_at=at(11, 1)), None),  # the sweep's
        (row(S.RUNNING, lease_expires_at=at(11, 59, 59)), StuckKind.RUNNING_EXPIRED),
        (row(S.RUNNING, lease_expires_at=at(12, 0, 1)), None),
        (row(S.FAILED, finished_at=at(11, 40), next_attempt_at=at(11, 44)), StuckKind.RETRY_OVERDUE),
        (row(S.FAILED, finished_at=at(11, 43), next_attempt_at=at(11, 47)), None),  # overdue from 12:01
        (row(S.FAILED, finished_at=at(11, 0)), None),  # failed for good
        (row(S.SUCCEEDED, finished_at=at(1, 0)), None),
        (row(S.DEAD, finished_at=at(1, 0)), None),
        (row(S.SCHEDULED, 0), None),
    ],
)
def test_stuck_rows_by_their_deadline(snapshot: RowSnapshot, kind: StuckKind | None) -> None:
    assert stuck_kind(snapshot, NOW, queued_after_s=600) is kind


def test_a_running_attempt_runs_again_under_its_number_a_retry_goes_on_to_the_next() -> None:
    assert attempt_after_redrive(row(S.RUNNING, 2)) == 1
    assert attempt_after_redrive(row(S.FAILED, 2)) == 2
    assert attempt_after_redrive(row(S.QUEUED, 0)) == 0


def test_only_rows_stuck_and_unchanged_for_the_interval_are_confirmed() -> None:
    watch = StuckWatch(confirm_s=10)
    stale = row(S.RUNNING, lease_expires_at=at(11, 0))
    assert watch.confirm([stale], 0.0) == []
    assert watch.confirm([stale], 9.9) == []
    assert watch.confirm([stale], 10.0) == [stale]


def test_a_renewed_lease_restarts_the_wait() -> None:
    watch = StuckWatch(confirm_s=10)
    assert watch.confirm([row(S.RUNNING, lease_expires_at=at(11, 0))], 0.0) == []
    renewed = row(S.RUNNING, lease_expires_at=at(11, 0, 30))  # still past, but renewed: alive
    assert watch.confirm([renewed], 10.0) == []
    assert watch.confirm([renewed], 20.0) == [renewed]


def test_a_row_that_moved_on_is_forgotten() -> None:
    watch = StuckWatch(confirm_s=10)
    stale = row(S.RUNNING, lease_expires_at=at(11, 0))
    watch.confirm([stale], 0.0)
    watch.confirm([], 5.0)  # not stuck any more
    assert watch.confirm([stale], 10.0) == []


def test_the_deadline_is_measured_on_the_row_not_on_when_it_was_read() -> None:
    # A row read late is judged by its own instants: the same answer at any later look.
    late = NOW + timedelta(days=365)
    assert stuck_kind(row(S.RUNNING, lease_expires_at=at(11, 0)), late, 600) is StuckKind.RUNNING_EXPIRED
