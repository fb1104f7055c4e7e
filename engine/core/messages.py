"""The message a distributor publishes for one schedule row, and its validation. Pure.

The body is small JSON: the row names everything else (payload, type settings), so the
database stays the one source of truth and a replayed or duplicated message can be checked
against it. The schedule row id is the idempotency key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

MESSAGE_VERSION = 1
MAX_BODY_BYTES = 64 * 1024


class MalformedMessage(ValueError):
    """A body that cannot be a Headway task message; `reason` says why, for the DLQ."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TaskMessage:
    """Run `attempt` (1-based) of schedule row `schedule_id`."""

    schedule_id: int
    task_id: int
    task_type: str
    attempt: int
    scheduled_time: datetime

    @property
    def idempotency_key(self) -> str:
        return str(self.schedule_id)

    def next_attempt(self) -> TaskMessage:
        return replace(self, attempt=self.attempt + 1)


def encode_message(message: TaskMessage) -> bytes:
    return json.dumps(
        {
            "v": MESSAGE_VERSION,
            "schedule_id": message.schedule_id,
            "task_id": message.task_id,
            "task_type": message.task_type,
            "attempt": message.attempt,
            "scheduled_time": message.scheduled_time.astimezone(UTC).isoformat(),
        },
        separators=(",", ":"),
    ).encode()


def decode_message(body: bytes) -> TaskMessage:
    """Parse and validate a body; raise MalformedMessage with the reason otherwise."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedMessage(f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedMessage(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise MalformedMessage("not a JSON object")
    if data.get("v") != MESSAGE_VERSION:
        raise MalformedMessage(f"unknown message version {data.get('v')!r}")
    schedule_id = _positive_int(data, "schedule_id")
    task_id = _positive_int(data, "task_id")
    attempt = _positive_int(data, "attempt")
    task_type = data.get("task_type")
    if not isinstance(task_type, str) or not task_type:
        raise MalformedMessage("task_type must be a non-empty string")
    raw_time = data.get("scheduled_time")
    if not isinstance(raw_time, str):
        raise MalformedMessage("scheduled_time must be an ISO-8601 string")
    try:
        scheduled_time = datetime.fromisoformat(raw_time)
    except ValueError:
        raise MalformedMessage(f"scheduled_time {raw_time!r} is not ISO-8601") from None
    if scheduled_time.tzinfo is None:
        raise MalformedMessage("scheduled_time has no offset")
    return TaskMessage(schedule_id, task_id, task_type, attempt, scheduled_time.astimezone(UTC))


def _positive_int(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    # bool is an int in Python; a JSON true is still not an id.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise MalformedMessage(f"{key} must be a positive integer")
    return value


@dataclass(frozen=True, slots=True)
class QueueNames:
    """Names derived from one base name, so several deployments (or tests) share a broker.

    `QueueNames("headway").retry(4000)` is `headway.retry.4000`: one delay queue per
    distinct delay, so every message in it expires in order (a single queue with
    per-message TTLs only expires its head).
    """

    base: str

    @property
    def tasks(self) -> str:
        return self.base

    @property
    def dead_letters(self) -> str:
        return f"{self.base}.dlq"

    def retry(self, delay_ms: int) -> str:
        return f"{self.base}.retry.{delay_ms}"
