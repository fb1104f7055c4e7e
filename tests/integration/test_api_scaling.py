"""/scaling/processors and the operational gauges of /metrics, on both dialects: the answer
is the capacity plan's fleet for the current minute, in processors, row for row."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, insert

from engine.adapters.tables import processor_heartbeats, task_schedule
from engine.api.app import create_app
from engine.services.capacity import capacity_outlook
from engine.services.forecast import forecast
from engine.settings import Settings
from tests.integration.conftest import API_NOW, Clock
from tests.integration.helpers import add_cron_task, seed_random_schedule

pytestmark = pytest.mark.integration

CONCURRENCY = 3


@pytest.fixture
def scaling_api(db_engine: Engine, clock: Clock) -> Iterator[TestClient]:
    settings = Settings(
        broker_url="memory://",
        api_token=None,
        processor_concurrency=CONCURRENCY,
        scaling_lead_minutes=4,
        scaling_cooldown_minutes=2,
    )
    with TestClient(create_app(db_engine, settings=settings, clock=clock)) as client:
        yield client


def gauges(client: TestClient) -> dict[str, float]:
    text = client.get("/metrics").text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.type == "gauge" and not sample.labels
    }


def test_the_answer_is_the_capacity_plan_fleet_in_processors_minute_by_minute(
    scaling_api: TestClient, db_engine: Engine, clock: Clock
) -> None:
    start = API_NOW.replace(second=0) - timedelta(minutes=10)
    seed_random_schedule(db_engine, random.Random(13), start, 60, edges=[start + timedelta(minutes=30)])
    lead, cooldown = 7, 3
    outlook = capacity_outlook(
        db_engine, start, hours=1, lead_minutes=lead, cooldown_minutes=cooldown, current_instances=0
    )
    assert max(outlook.plan.fleet) > CONCURRENCY  # the data needs more than one processor somewhere
    checked = 0
    for index in range(cooldown, len(outlook.series) - lead):
        minute = outlook.series[index].minute
        clock.now = minute + timedelta(seconds=41)
        body = scaling_api.get(
            "/scaling/processors", params={"lead_minutes": lead, "cooldown_minutes": cooldown}
        ).json()
        wanted = outlook.plan.fleet[index]
        rows = outlook.series[index - cooldown : index + lead + 1]
        assert body["worker_slots"] == wanted == max(row.required_instances for row in rows), minute
        assert body["processors"] == math.ceil(wanted / CONCURRENCY)
        assert body["concurrency"] == CONCURRENCY
        assert body["window_start"] == rows[0].minute.isoformat().replace("+00:00", "Z")
        if wanted:
            peak = next(row.minute for row in rows if row.required_instances == wanted)
            assert body["peak_minute"] == peak.isoformat().replace("+00:00", "Z")
        else:
            assert body["peak_minute"] is None
        checked += 1
    assert checked == 50


def test_defaults_come_from_the_settings_and_metrics_show_the_same_figure(
    scaling_api: TestClient, db_engine: Engine, clock: Clock
) -> None:
    seed_random_schedule(db_engine, random.Random(5), clock.now.replace(second=0), 20)
    series = forecast(db_engine, clock.now - timedelta(minutes=2), hours=7 / 60)
    wanted = max(minute.required_instances for minute in series)
    body = scaling_api.get("/scaling/processors").json()
    assert (body["lead_minutes"], body["cooldown_minutes"]) == (4, 2)
    assert body["worker_slots"] == wanted
    figures = gauges(scaling_api)
    assert figures["headway_scaling_processors"] == body["processors"] == math.ceil(wanted / CONCURRENCY)
    assert figures["headway_scaling_worker_slots"] == wanted


@pytest.mark.parametrize("field", ["lead_minutes", "cooldown_minutes"])
@pytest.mark.parametrize("value", ["-1", "1441", "ten", "1.5"])
def test_minutes_out_of_range_are_422_naming_the_field(
    scaling_api: TestClient, field: str, value: str
) -> None:
    response = scaling_api.get("/scaling/processors", params={field: value})
    assert response.status_code == 422
    assert [item["loc"] for item in response.json()["detail"]] == [["query", field]]


def test_operational_gauges_count_overdue_rows_live_slots_and_the_schedulers_lag(
    scaling_api: TestClient, db_engine: Engine, clock: Clock
) -> None:
    now = clock.now
    assert gauges(scaling_api)["headway_unscheduled_task_age_seconds"] == 0
    task = add_cron_task(db_engine, now - timedelta(seconds=45), "0 0 1 1 *")
    with db_engine.begin() as connection:
        connection.execute(
            insert(task_schedule),
            [
                {"task_id": task.id, "scheduled_time": at, "status": status, "attempt": 0}
                for at, status in [
                    (now - timedelta(minutes=5), "Scheduled"),  # overdue
                    (now - timedelta(seconds=61), "Scheduled"),  # overdue
                    (now - timedelta(seconds=30), "Scheduled"),  # due, not yet overdue
                    (now - timedelta(minutes=9), "Queued"),  # published
                    (now + timedelta(minutes=1), "Scheduled"),
                ]
            ],
        )
        connection.execute(
            insert(processor_heartbeats),
            [
                {
                    "processor_id": name,
                    "hostname": "h",
                    "pid": 1,
                    "concurrency": slots,
                    "started_at": now - timedelta(hours=1),
                    "last_seen_at": seen,
                }
                for name, slots, seen in [
                    ("a", 4, now - timedelta(seconds=3)),
                    ("b", 8, now - timedelta(seconds=20)),
                    ("gone", 16, now - timedelta(seconds=31)),
                ]
            ],
        )
    figures = gauges(scaling_api)
    assert figures["headway_overdue_tasks"] == 2
    assert figures["headway_worker_slots"] == 12
    assert figures["headway_current_instances"] == 12  # worker slots, as headway_worker_slots
    assert figures["headway_live_processors"] == 2
    # The cron task was created 45 s ago and no pass has picked it up.
    assert figures["headway_unscheduled_task_age_seconds"] == pytest.approx(45)
    assert "headway_schedule_coverage_seconds" not in figures

    from engine.processes.scheduler import run_pass

    run_pass(db_engine, now, forecast_hours=3, window_hours=5)
    figures = gauges(scaling_api)
    assert figures["headway_unscheduled_task_age_seconds"] == 0
    assert figures["headway_schedule_coverage_seconds"] == pytest.approx(5 * 3600)
    clock.advance(minutes=10)
    assert gauges(scaling_api)["headway_schedule_coverage_seconds"] == pytest.approx(5 * 3600 - 600)
