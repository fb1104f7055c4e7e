"""What a handler is given and how it reports failure. Pure value types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EXCERPT_CHARS = 1_000


@dataclass(frozen=True, slots=True)
class TaskContext:
    """Everything a handler needs for one attempt. `idempotency_key` (the schedule row id) is
    the same on every attempt and every redelivery of the row, so a receiver can drop
    repeats."""

    schedule_id: int
    task_id: int
    task_type: str
    attempt: int
    max_attempts: int
    timeout_s: float
    payload: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str:
        return str(self.schedule_id)


class TaskFailed(Exception):
    """Raised by a handler for an attempt that failed. `outcome` is a short code for
    `task_runs.outcome` ("failed", "timeout", "blocked_destination", ...); a non-`retryable`
    failure ends the row `Failed` at once instead of spending the remaining attempts."""

    def __init__(self, reason: str, outcome: str = "failed", retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome
        self.retryable = retryable


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str | None:
    """The first `limit` characters, marked when cut: `excerpt("abcdef", 4)` is `"abc…"`.
    NUL characters, which PostgreSQL text cannot hold, become U+FFFD."""
    if text is None:
        return None
    text = text.replace("\x00", "\ufffd")
    return text if len(text) <= limit else text[: limit - 1] + "…"
