"""The demo fleet and the echo endpoint its runs call."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

from engine.adapters.echo_endpoint import ECHO_PATH, create_echo_app
from engine.core.cron import CronSchedule, fire_times
from engine.core.types import TaskKind
from engine.demo import DEMO_TYPES, demo_fleet

NOW = datetime(2026, 3, 10, 14, 37, 12, tzinfo=UTC)  # demo_fleet takes the instant as input


def test_the_fleet_mixes_kinds_zones_types_and_failures() -> None:
    fleet = demo_fleet(NOW, 300)
    assert len(fleet) == 300 and len({spec.name for spec in fleet}) == 300
    kinds = Counter(spec.kind for spec in fleet)
    assert kinds[TaskKind.CRON] >= 200 and kinds[TaskKind.ONCE] >= 20 and kinds[TaskKind.IMMEDIATE] >= 20
    assert {spec.task_type for spec in fleet} == {demo_type.name for demo_type in DEMO_TYPES}
    assert {spec.timezone for spec in fleet if spec.timezone} >= {"UTC", "Europe/Berlin", "Asia/Kolkata"}
    assert sum(spec.cron_expression == "* * * * *" for spec in fleet) >= 10
    assert all(spec.run_at is not None and spec.run_at > NOW for spec in fleet if spec.kind is TaskKind.ONCE)
    assert any("fail_first" in spec.payload for spec in fleet)
    assert any(spec.payload.get("reject") for spec in fleet)
    assert demo_fleet(NOW, 300) == fleet  # the same seed, the same fleet
    assert len(demo_fleet(NOW, 40)) == 40


def test_the_hourly_jobs_pile_up_at_the_full_hour() -> None:
    per_minute: Counter[datetime] = Counter()
    for spec in demo_fleet(NOW, 300):
        if spec.kind is TaskKind.CRON:
            assert spec.cron_expression is not None and spec.timezone is not None
            schedule = CronSchedule(spec.cron_expression, spec.timezone)
            per_minute.update(fire_times(schedule, NOW, NOW + timedelta(hours=1)))
    busiest = max(per_minute, key=per_minute.__getitem__)
    assert busiest == datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    assert per_minute[busiest] > 5 * per_minute[datetime(2026, 3, 10, 15, 1, tzinfo=UTC)]


def test_the_echo_endpoint_waits_fails_on_purpose_and_refuses() -> None:
    client = TestClient(create_echo_app())
    answer = client.post(ECHO_PATH, json={"duration_ms": 10})
    assert answer.status_code == 200 and answer.json() == {"ok": True, "duration_ms": 10}
    retried = [
        client.post(ECHO_PATH, json={"fail_first": 2}, headers={"Idempotency-Key": "7"}).status_code
        for _ in range(3)
    ]
    assert retried == [503, 503, 200]
    assert client.post(ECHO_PATH, json={"fail_first": 2}, headers={"Idempotency-Key": "8"}).status_code == 503
    assert client.post(ECHO_PATH, json={"reject": True}).status_code == 422
    assert client.post(ECHO_PATH, content=b"not json").status_code == 400
