"""Task message encoding and validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.core.messages import MalformedMessage, QueueNames, TaskMessage, decode_message, encode_message

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
