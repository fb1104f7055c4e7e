"""/health, /metrics and the OpenAPI documents, on real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, insert, select, update

from engine.adapters.broker_health import check_broker
from engine.adapters.database import create_db_engine
from engine.adapters.history_store import roll_up_runs
from engine.adapters.tables import processor_heartbeats, task_runs, task_schedule
from engine.processes.scheduler import run_pass
from tests.acceptance.faults import free_port
from tests.integration.conftest import Clock, make_app
from tests.integration.helpers import add_cron_task

pytestmark = pytest.mark.integration


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_health_is_200_when_database_and_broker_answer(
    pg_engine: Engine, amqp_url: str, clock: Clock
) -> None:
    with TestClient(make_app(pg_engine, clock, broker_url=amqp_url)) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "up", "broker": "up", "problems": []}


def test_health_with_the_in_process_broker(api: TestClient) -> None:
    assert api.get("/health").json()["broker"] == "up"


def test_health_is_503_naming_the_broker_when_it_is_down(pg_engine: Engine, clock: Clock) -> None:
    down = f"amqp://guest:secret@127.0.0.1:{closed_port()}/%2F"
    with TestClient(make_app(pg_engine, clock, broker_url=down)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"], body["broker"]) == ("unavailable", "up", "down")
    assert [problem.split(":")[0] for problem in body["problems"]] == ["broker"]
    assert "secret" not in response.text


def test_health_is_503_naming_the_database_when_it_is_down(clock: Clock) -> None:
    engine = create_db_engine(f"postgresql://postgres:secret@127.0.0.1:{closed_port()}/nowhere")
    with TestClient(make_app(engine, clock)) as client:
        response = client.get("/health")
        # Other endpoints say the database is unavailable, as a 503 rather than a crash.
        tasks = client.get("/tasks")
    engine.dispose()
    assert response.status_code == 503
    body = response.json()
    assert (body["database"], body["broker"]) == ("down", "up")
    assert [problem.split(":")[0] for problem in body["problems"]] == ["database"]
    assert "secret" not in response.text
    assert tasks.status_code == 503
    assert tasks.headers["retry-after"] == "5"


def test_broker_probe_bounds_and_schemes(amqp_url: str) -> None:
    assert check_broker(amqp_url) is None
    assert check_broker("memory://") is None
    assert check_broker("redis://localhost") == "unsupported broker URL scheme"
    assert check_broker(f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F", timeout_s=1) is not None
    assert check_broker(amqp_url.replace("guest:guest", "guest:wrong")) is not None


def scrape(api: TestClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_expose_statuses_start_lag_and_instances(
    api: TestClient, pg_engine: Engine, clock: Clock
) -> None:
    task = add_cron_task(pg_engine, clock.now - timedelta(minutes=10), "* * * * *")
    run_pass(pg_engine, clock.now - timedelta(minutes=10))  # rows from 09:51 on
    lags_s = {9: 0.05, 8: 0.4, 7: 3.0, 6: 45.0}  # minutes ago -> start lag
    with pg_engine.begin() as connection:
        for minutes_ago, lag_s in lags_s.items():
            scheduled = clock.now.replace(second=0) - timedelta(minutes=minutes_ago)
            connection.execute(
                update(task_schedule)
                .where(task_schedule.c.task_id == task.id, task_schedule.c.scheduled_time == scheduled)
                .values(status="Succeeded", started_at=scheduled + timedelta(seconds=lag_s))
            )
        connection.execute(
            insert(processor_heartbeats).values(
                processor_id="p1",
                hostname="h",
                pid=1,
                concurrency=2,
                started_at=clock.now,
                last_seen_at=clock.now,
            )
        )

    samples = scrape(api)

    statuses = {dict(labels)["status"]: value for labels, value in samples["headway_tasks"].items()}
    # Rows with work left, every such status reported; finished rows are history, not a gauge.
    assert set(statuses) == {"Scheduled", "Queued", "Running", "Failed", "Dead"}
    assert statuses["Scheduled"] > 100
    assert statuses["Dead"] == statuses["Running"] == 0
    buckets = {
        dict(labels)["le"]: value for labels, value in samples["headway_start_lag_seconds_bucket"].items()
    }
    assert (buckets["0.1"], buckets["0.5"], buckets["5.0"], buckets["60.0"], buckets["+Inf"]) == (
        1,
        2,
        3,
        4,
        4,
    )
    assert samples["headway_start_lag_seconds_count"][()] == 4
    assert samples["headway_start_lag_seconds_sum"][()] == pytest.approx(sum(lags_s.values()))
    assert samples["headway_required_instances"][()] == 1  # one 1,000 ms task this minute
    assert samples["headway_current_instances"][()] == 2  # one processor of concurrency 2: 2 slots
    assert samples["headway_live_processors"][()] == 1


def test_metrics_start_lag_is_the_first_attempts_not_the_retry_delay(
    api: TestClient, pg_engine: Engine, clock: Clock
) -> None:
    # A task first started 0.2 s late, failed, and its retry started 30 s after its time:
    # the lag users care about is the first start, which the Processor records.
    task = add_cron_task(pg_engine, clock.now - timedelta(minutes=10), "* * * * *")
    run_pass(pg_engine, clock.now - timedelta(minutes=10))
    scheduled = clock.now.replace(second=0) - timedelta(minutes=5)
    with pg_engine.begin() as connection:
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.task_id == task.id, task_schedule.c.scheduled_time == scheduled)
            .values(status="Succeeded", started_at=scheduled + timedelta(seconds=30), start_lag_ms=200)
        )
    samples = scrape(api)
    assert samples["headway_start_lag_seconds_count"][()] == 1
    assert samples["headway_start_lag_seconds_sum"][()] == pytest.approx(0.2)


def test_metrics_of_an_empty_database(api: TestClient) -> None:
    samples = scrape(api)
    assert samples["headway_required_instances"][()] == 0
    assert samples["headway_start_lag_seconds_count"][()] == 0


def test_openapi_document_and_docs_page(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    assert set(document["paths"]) == {
        "/tasks",
        "/tasks/{task_id}",
        "/tasks/{task_id}/inactive",
        "/tasks/{task_id}/run",
        "/tasks/{task_id}/runs",
        "/task-types",
        "/task-types/{name}",
        "/scheduled-tasks-summary",
        "/task-summary",
        "/forecast",
        "/scaling/processors",
        "/forecast/accuracy",
        "/health",
        "/livez",
        "/readyz",
        "/metrics",
        "/dead-letters",
        "/dead-letters/replay",
        "/dead-letters/discard",
    }
    assert set(document["paths"]["/tasks"]) == {"get", "post"}
    assert "securitySchemes" not in document.get("components", {})  # no token, no security
    docs = api.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_a_request_that_cannot_get_a_connection_is_a_503_not_a_hang(pg_url: str, clock: Clock) -> None:
    engine = create_db_engine(pg_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    with TestClient(make_app(engine, clock)) as client, engine.connect():  # the only connection
        response = client.get("/tasks")
    engine.dispose()
    assert response.status_code == 503
    assert response.json()["detail"].startswith("database unavailable")


def test_livez_answers_without_the_database_and_readyz_names_what_is_down(clock: Clock) -> None:
    # A database on a port nobody listens on, a broker likewise: live, not ready.
    dead_db = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    app = make_app(dead_db, clock, broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F")
    with TestClient(app) as client:
        assert client.get("/livez").json() == {"status": "ok"}
        response = client.get("/readyz")
    assert response.status_code == 503
    assert (response.json()["database"], response.json()["broker"]) == ("down", "down")


def test_metrics_count_the_rows_the_reconciliation_drove_on(
    api: TestClient, pg_engine: Engine, clock: Clock
) -> None:
    from engine.adapters.reconcile_store import find_stuck_rows, redrive_rows
    from engine.core.reconcile import StuckKind

    def redriven() -> dict[str, float]:
        family = scrape(api)["headway_redriven_rows_total"]
        return {dict(labels)["kind"]: value for labels, value in family.items()}

    assert redriven() == {"queued_unstarted": 0, "retry_overdue": 0, "running_expired": 0}
    task = add_cron_task(pg_engine, clock.now - timedelta(minutes=10), "* * * * *")
    run_pass(pg_engine, clock.now - timedelta(minutes=10))
    with pg_engine.begin() as connection:
        connection.execute(
            update(task_schedule)
            .where(task_schedule.c.task_id == task.id, task_schedule.c.scheduled_time < clock.now)
            .values(status="Running", attempt=1, lease_expires_at=clock.now - timedelta(seconds=1))
        )
        stuck = find_stuck_rows(connection, clock.now, 600, 100)
        assert len(stuck) == 10
        redrive_rows(connection, [(row, StuckKind.RUNNING_EXPIRED) for row in stuck])
    assert redriven() == {"queued_unstarted": 0, "retry_overdue": 0, "running_expired": 10}


def test_metrics_count_open_rows_and_runs_by_outcome_past_the_rollups(
    db_engine: Engine, clock: Clock
) -> None:
    """A Failed row waiting for a retry and a Dead row not discarded have work left; a Failed
    row without a retry, a discarded Dead row and a Succeeded row do not. Runs are counted
    once whether rolled up or past the watermark."""
    task = add_cron_task(db_engine, clock.now - timedelta(minutes=10), "* * * * *")
    run_pass(db_engine, clock.now - timedelta(minutes=10))
    with db_engine.begin() as connection:
        rows = connection.execute(
            select(task_schedule.c.id, task_schedule.c.scheduled_time)
            .where(task_schedule.c.task_id == task.id)
            .order_by(task_schedule.c.scheduled_time)
            .limit(5)
        ).all()
        retry, final_failure, dead, discarded, succeeded = rows
        times = {row.id: row.scheduled_time for row in rows}
        finished = clock.now - timedelta(minutes=1)
        changes = {
            retry.id: {"status": "Failed", "next_attempt_at": clock.now + timedelta(seconds=30)},
            final_failure.id: {"status": "Failed", "next_attempt_at": None, "finished_at": finished},
            dead.id: {"status": "Dead", "finished_at": finished},
            discarded.id: {"status": "Dead", "finished_at": finished, "discarded_at": clock.now},
            succeeded.id: {"status": "Succeeded", "finished_at": finished},
        }
        for row_id, values in changes.items():
            connection.execute(update(task_schedule).where(task_schedule.c.id == row_id).values(**values))

        def add_run(row_id: int, attempt: int, outcome: str) -> None:
            connection.execute(
                insert(task_runs).values(
                    schedule_id=row_id,
                    scheduled_time=times[row_id],
                    task_id=task.id,
                    task_type="http",
                    attempt=attempt,
                    started_at=clock.now - timedelta(minutes=2),
                    finished_at=finished,
                    elapsed_ms=100,
                    outcome=outcome,
                )
            )

        add_run(succeeded.id, 1, "succeeded")
        add_run(dead.id, 1, "failed")
        add_run(dead.id, 2, "failed")
        add_run(retry.id, 1, "failed")
        add_run(final_failure.id, 1, "failed")
    expected = {"succeeded": 1, "failed": 4}
    with TestClient(make_app(db_engine, clock)) as api:
        raw = scrape(api)["headway_task_runs_total"]
    assert {dict(labels)["outcome"]: value for labels, value in raw.items()} == expected
    assert roll_up_runs(db_engine) > 0  # the finished runs move into the rollups
    with TestClient(make_app(db_engine, clock)) as api:
        samples = scrape(api)

    statuses = {dict(labels)["status"]: value for labels, value in samples["headway_tasks"].items()}
    assert (statuses["Failed"], statuses["Dead"]) == (1, 1)
    runs = {dict(labels)["outcome"]: value for labels, value in samples["headway_task_runs_total"].items()}
    assert runs == expected  # each run counted once, from the rollups or past the watermark


def test_metrics_count_the_fire_times_skipped_by_reason_and_pruning_does_not_lower_them(
    api: TestClient, pg_engine: Engine, clock: Clock
) -> None:
    from sqlalchemy import delete

    from engine.adapters.sql_stores import SqlDistributionStore

    def skipped() -> dict[str, float]:
        family = scrape(api)["headway_skipped_fire_times_total"]
        return {dict(labels)["reason"]: value for labels, value in family.items()}

    assert skipped() == {"coalesced": 0, "missed": 0, "overlap": 0}
    start = clock.now - timedelta(minutes=10)
    add_cron_task(pg_engine, start, "* * * * *", overlap_policy="skip", misfire_policy="run_latest")
    run_pass(pg_engine, start)
    # Ten fire times missed, found at once: the latest runs, the nine before it are coalesced.
    SqlDistributionStore(pg_engine).claim(clock.now, 100, "d1", clock.now + timedelta(hours=1), [])
    assert skipped() == {"coalesced": 9, "missed": 0, "overlap": 0}
    with pg_engine.begin() as connection:  # pruned as history
        connection.execute(delete(task_schedule).where(task_schedule.c.status == "Skipped"))
    assert skipped()["coalesced"] == 9
