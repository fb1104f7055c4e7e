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
# The columns a message's numbers end up in: task_schedule.id is a BIGINT, attempt an INTEGER.
# A message beyond them could never be written and would fail its whole start batch.
MAX_ID = 2**63 - 1
MAX_ATTEMPT = 2**31 - 1
MAX_TASK_TYPE_CHARS = 200
# A scheduled time outside these years is no Headway row's (and near datetime's own limits
# arithmetic on it overflows).
EARLIEST_YEAR = 1970
LATEST_YEAR = 9000
# Delay queues: powers of two seconds, 1 s to 2**15 s (about 9 hours). A delay is rounded up
# to the next tier, so a message never comes back before it is due.
DELAY_TIERS_MS = tuple(1_000 * 2**k for k in range(16))


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
    """Parse and validate a body; raise MalformedMessage with the reason otherwise (and never
    anything else: a hostile body must not stop the processor that reads it).

    Numbers must fit the columns they are written to (ids 1..2**63-1, attempts 1..2**31-1)
    and the time must fall in the years 1970..9000: `{"schedule_id": 9223372036854775808,
    ...}` is refused as "schedule_id must be an integer from 1 to 9223372036854775807"."""
    try:
        return _decode(body)
    except MalformedMessage:
        raise
    except Exception as error:  # whatever else a crafted body provokes is still its fault
        raise MalformedMessage(f"undecodable: {error.__class__.__name__}: {error}") from None


def _decode(body: bytes) -> TaskMessage:
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
    schedule_id = _positive_int(data, "schedule_id", MAX_ID)
    task_id = _positive_int(data, "task_id", MAX_ID)
    attempt = _positive_int(data, "attempt", MAX_ATTEMPT)
    task_type = data.get("task_type")
    if not isinstance(task_type, str) or not task_type or len(task_type) > MAX_TASK_TYPE_CHARS:
        raise MalformedMessage(
            f"task_type must be a non-empty string of at most {MAX_TASK_TYPE_CHARS} characters"
        )
    raw_time = data.get("scheduled_time")
    if not isinstance(raw_time, str):
        raise MalformedMessage("scheduled_time must be an ISO-8601 string")
    try:
        scheduled_time = datetime.fromisoformat(raw_time)
    except ValueError:
        raise MalformedMessage(f"scheduled_time {raw_time!r} is not ISO-8601") from None
    if scheduled_time.tzinfo is None:
        raise MalformedMessage("scheduled_time has no offset")
    if not EARLIEST_YEAR <= scheduled_time.year <= LATEST_YEAR:
        raise MalformedMessage(
            f"scheduled_time {raw_time!r} is not between {EARLIEST_YEAR} and {LATEST_YEAR}"
        )
    return TaskMessage(schedule_id, task_id, task_type, attempt, scheduled_time.astimezone(UTC))


def _positive_int(data: dict[str, Any], key: str, maximum: int) -> int:
    value = data.get(key)
    # bool is an int in Python; a JSON true is still not an id.
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise MalformedMessage(f"{key} must be a positive integer")
    if value > maximum:
        raise MalformedMessage(f"{key} must be an integer from 1 to {maximum}")
    return value


def delay_tier_ms(delay_ms: int) -> int:
    """The delay queue a delay of `delay_ms` waits in: the smallest tier at least as long,
    the longest tier beyond them. `delay_tier_ms(1_234)` is 2_000, `delay_tier_ms(0)` is
    1_000, `delay_tier_ms(60_000)` is 64_000. A few fixed queues instead of one per value:
    a fleet parking copies for every remaining lease in milliseconds made hundreds."""
    for tier in DELAY_TIERS_MS:
        if delay_ms <= tier:
            return tier
    return DELAY_TIERS_MS[-1]


@dataclass(frozen=True, slots=True)
class QueueNames:
    """Names derived from one base name, so several deployments (or tests) share a broker.

    `QueueNames("headway").retry(1234)` is `headway.retry.2000`: one delay queue per tier
    (`delay_tier_ms`), so every message in it has the same TTL and expires in order (a single
    queue with per-message TTLs only expires its head).
    """

    base: str

    @property
    def tasks(self) -> str:
        return self.base

    @property
    def dead_letters(self) -> str:
        return f"{self.base}.dlq"

    def retry(self, delay_ms: int) -> str:
        return f"{self.base}.retry.{delay_tier_ms(delay_ms)}"
