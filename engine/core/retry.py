"""Retry maths: exponential backoff and what follows a failed attempt. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_BACKOFF_BASE_MS = 1_000
DEFAULT_BACKOFF_MAX_MS = 300_000


def compute_backoff_ms(
    attempt: int, base_ms: int = DEFAULT_BACKOFF_BASE_MS, max_ms: int = DEFAULT_BACKOFF_MAX_MS
) -> int:
    """Delay before the attempt after `attempt` (1-based): `base_ms * 2 ** (attempt - 1)`,
    capped at `max_ms`.

    `compute_backoff_ms(1, 1000, 60_000)` is 1000, `compute_backoff_ms(3, 1000, 60_000)` is
    4000 and `compute_backoff_ms(10, 1000, 60_000)` is 60000. No jitter: the delay queue holds
    one TTL per distinct delay, so equal delays share one queue.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if base_ms < 0 or max_ms < 0:
        raise ValueError("delays must not be negative")
    # Stop doubling once past the cap so that a large attempt number cannot overflow.
    delay = base_ms
    for _ in range(attempt - 1):
        if delay >= max_ms:
            break
        delay *= 2
    return min(delay, max_ms)


class FailureAction(StrEnum):
    RETRY = "retry"  # row Failed with a retry pending, message to the delay path
    DEAD = "dead"  # last attempt used: row Dead, message to the dead-letter queue
    FAIL = "fail"  # not worth retrying (e.g. blocked_destination): row Failed for good


@dataclass(frozen=True, slots=True)
class FailureDecision:
    action: FailureAction
    delay_ms: int = 0


def decide_after_failure(
    attempt: int,
    max_attempts: int,
    retryable: bool,
    base_ms: int = DEFAULT_BACKOFF_BASE_MS,
    max_ms: int = DEFAULT_BACKOFF_MAX_MS,
) -> FailureDecision:
    """What a failed `attempt` of `max_attempts` leads to.

    With 3 attempts: attempt 1 fails -> RETRY after base_ms, attempt 2 -> RETRY after
    2 * base_ms, attempt 3 -> DEAD. A non-retryable failure is FAIL whatever the attempt.
    """
    if not retryable:
        return FailureDecision(FailureAction.FAIL)
    if attempt >= max_attempts:
        return FailureDecision(FailureAction.DEAD)
    return FailureDecision(FailureAction.RETRY, compute_backoff_ms(attempt, base_ms, max_ms))


class Backoff:
    """The wait before the next try of something that keeps failing (a lost broker, a
    database outage): `compute_backoff_ms` counted in failures in a row, from `initial_s` up
    to `max_s`, back to `initial_s` after a success. Pure: the caller sleeps.

    `b = Backoff(0.1, 0.5)`: `b.next_s()` gives 0.1, 0.2, 0.4, 0.5, 0.5, ...; after
    `b.reset()` 0.1 again.
    """

    def __init__(self, initial_s: float = 0.1, max_s: float = 5.0) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError("need 0 < initial_s <= max_s")
        self.initial_s = initial_s
        self.max_s = max_s
        self._failures = 0

    def next_s(self) -> float:
        self._failures += 1
        return (
            compute_backoff_ms(self._failures, round(self.initial_s * 1000), round(self.max_s * 1000)) / 1000
        )

    def reset(self) -> None:
        self._failures = 0
