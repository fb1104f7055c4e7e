"""Task message encoding and validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.core.messages import (
    MalformedMessage,
    QueueNames,
    TaskMessage,
    decode_message,
    delay_tier_ms,
    encode_message,
)

MESSAGE = TaskMessage(42, 7, "http", 1, datetime(2026, 1, 1, 9, 0, tzinfo=UTC))


def test_round_trip_keeps_every_field_and_the_idempotency_key() -> None:
    decoded = decode_message(encode_message(MESSAGE))
    assert decoded == MESSAGE
    assert decoded.idempotency_key == "42"
    assert decoded.next_attempt().attempt == 2


def test_scheduled_time_is_normalised_to_utc() -> None:
    berlin = MESSAGE.scheduled_time.astimezone(timezone(timedelta(hours=1)))
    body = encode_message(TaskMessage(42, 7, "http", 1, berlin))
    assert decode_message(body).scheduled_time == MESSAGE.scheduled_time


def _body(**changes: object) -> bytes:
    data = json.loads(encode_message(MESSAGE))
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (_body(v=2), "version"),
        (_body(schedule_id=0), "schedule_id"),
        (_body(schedule_id=True), "schedule_id"),
        (_body(task_id="7"), "task_id"),
        (_body(attempt=-1), "attempt"),
        (_body(task_type=""), "task_type"),
        (_body(scheduled_time="yesterday"), "ISO-8601"),
        (_body(scheduled_time="2026-01-01T09:00:00"), "offset"),
        (b"{" + b" " * 70_000 + b"}", "exceeds"),
        (_body(schedule_id=2**63), "schedule_id must be an integer from 1 to 9223372036854775807"),
        (_body(task_id=2**63), "task_id must be an integer from 1 to"),
        (_body(attempt=2**31), "attempt must be an integer from 1 to 2147483647"),
        (_body(attempt=1).replace(b'"attempt": 1', b'"attempt": ' + b"9" * 5000), "not JSON"),
        (_body(task_type="x" * 201), "task_type"),
        (_body(scheduled_time="0001-01-01T00:00:00+14:00"), "scheduled_time"),
        (_body(scheduled_time="9999-12-31T23:59:59-14:00"), "scheduled_time"),
        (_body(scheduled_time="1969-12-31T23:59:59+00:00"), "between 1970 and 9000"),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage) as caught:
        decode_message(body)
    assert reason in caught.value.reason


def test_queue_names_derive_from_one_base() -> None:
    names = QueueNames("hw-test")
    assert (names.tasks, names.dead_letters, names.retry(4_000)) == (
        "hw-test",
        "hw-test.dlq",
        "hw-test.retry.4000",
    )


def test_the_largest_values_the_columns_hold_are_accepted() -> None:
    body = _body(schedule_id=2**63 - 1, attempt=2**31 - 1)
    assert (decode_message(body).schedule_id, decode_message(body).attempt) == (2**63 - 1, 2**31 - 1)


@pytest.mark.parametrize(
    ("delay_ms", "tier_ms"),
    [
        (0, 1_000),
        (1, 1_000),
        (1_000, 1_000),
        (1_001, 2_000),
        (1_234, 2_000),
        (60_000, 64_000),
        (10**9, 32_768_000),
    ],
)
def test_delays_are_rounded_up_to_a_few_tiers(delay_ms: int, tier_ms: int) -> None:
    assert delay_tier_ms(delay_ms) == tier_ms
    assert QueueNames("hw").retry(delay_ms) == f"hw.retry.{tier_ms}"


def test_every_delay_of_a_day_in_milliseconds_uses_at_most_sixteen_queues() -> None:
    assert len({delay_tier_ms(ms) for ms in range(0, 86_400_000, 997)}) <= 16
