"""What a processor does with a message, given its row: the crash-recovery table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.core.leases import RowState, StartAction, decide_start, lease_expired, lease_until
from engine.core.types import ScheduleStatus as S

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LIVE = NOW + timedelta(seconds=2)
EXPIRED = NOW - timedelta(seconds=1)
LATER = NOW + timedelta(seconds=30)


def test_lease_maths() -> None:
    assert lease_until(NOW, 30) == NOW + timedelta(seconds=30)
    assert lease_expired(EXPIRED, NOW) and lease_expired(NOW, NOW)
    assert not lease_expired(LIVE, NOW)
    assert not lease_expired(None, NOW)  # handed over for good
    with pytest.raises(ValueError):
        lease_until(NOW, 0)


@pytest.mark.parametrize(
    ("row", "attempt", "action", "expected"),
    [
        (RowState(S.QUEUED, 0, None, None), 1, StartAction.START, S.QUEUED),
        (RowState(S.QUEUED, 0, LIVE, None), 1, StartAction.START, S.QUEUED),  # before the confirm was noted
        (RowState(S.SCHEDULED, 0, None, None), 1, StartAction.START, S.SCHEDULED),  # swept, message was out
        (RowState(S.FAILED, 1, None, LATER), 2, StartAction.START, S.FAILED),  # the retry
        (RowState(S.RUNNING, 1, EXPIRED, None), 1, StartAction.START, S.RUNNING),  # holder died: take over
        (RowState(S.RUNNING, 1, LIVE, None), 1, StartAction.DEFER, None),  # holder alive
        (RowState(S.FAILED, 1, None, LATER), 1, StartAction.RETRY_AGAIN, None),  # crash after recording
        (RowState(S.DEAD, 3, None, None), 3, StartAction.DEAD_AGAIN, None),
        (RowState(S.SUCCEEDED, 1, None, None), 1, StartAction.DROP, None),  # duplicate
        (RowState(S.FAILED, 1, None, None), 2, StartAction.DROP, None),  # final failure: no retry
        (RowState(S.RUNNING, 2, LIVE, None), 1, StartAction.DROP, None),  # older attempt
        (RowState(S.QUEUED, 0, None, None), 2, StartAction.DROP, None),  # replayed row, old message
    ],
)
def test_decide_start(row: RowState, attempt: int, action: StartAction, expected: S | None) -> None:
    decision = decide_start(row, attempt, NOW)
    assert decision.action is action
    assert decision.expected_status is expected


def test_a_deleted_row_drops_its_message() -> None:
    assert decide_start(None, 1, NOW).action is StartAction.DROP


def test_defer_waits_out_the_lease_with_a_floor() -> None:
    assert decide_start(RowState(S.RUNNING, 1, LIVE, None), 1, NOW).delay_ms == 2_500
    short = RowState(S.RUNNING, 1, NOW + timedelta(milliseconds=10), None)
    assert decide_start(short, 1, NOW).delay_ms == 1_000


def test_retry_again_waits_until_the_recorded_retry_time() -> None:
    decision = decide_start(RowState(S.FAILED, 1, None, NOW + timedelta(seconds=4)), 1, NOW)
    assert decision.delay_ms == 4_000
