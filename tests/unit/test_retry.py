"""Backoff maths and what a failed attempt leads to."""

from __future__ import annotations

import pytest

from engine.core.retry import Backoff, FailureAction, compute_backoff_ms, decide_after_failure


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 1_000), (2, 2_000), (3, 4_000), (6, 32_000), (7, 60_000), (10_000, 60_000)],
)
def test_backoff_doubles_from_base_up_to_the_cap(attempt: int, expected: int) -> None:
    assert compute_backoff_ms(attempt, 1_000, 60_000) == expected


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError):
        compute_backoff_ms(0, 1_000, 60_000)


def test_three_attempts_retry_twice_then_die() -> None:
    first = decide_after_failure(1, 3, retryable=True, base_ms=500, max_ms=10_000)
    second = decide_after_failure(2, 3, retryable=True, base_ms=500, max_ms=10_000)
    third = decide_after_failure(3, 3, retryable=True, base_ms=500, max_ms=10_000)
    assert (first.action, first.delay_ms) == (FailureAction.RETRY, 500)
    assert (second.action, second.delay_ms) == (FailureAction.RETRY, 1_000)
    assert third.action is FailureAction.DEAD


def test_a_non_retryable_failure_ends_at_once() -> None:
    assert decide_after_failure(1, 3, retryable=False).action is FailureAction.FAIL


def test_a_cap_below_the_base_caps_the_first_delay_too() -> None:
    assert compute_backoff_ms(1, 1_000, 500) == 500


def test_a_backoff_counts_failures_in_a_row_and_starts_again_after_a_success() -> None:
    backoff = Backoff(0.1, 0.5)
    assert [backoff.next_s() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next_s() == 0.1


def test_a_backoff_needs_a_positive_start_below_its_cap() -> None:
    with pytest.raises(ValueError, match="initial_s"):
        Backoff(0.0, 1.0)
    with pytest.raises(ValueError, match="max_s"):
        Backoff(2.0, 1.0)
