"""Discarding dead letters (migration 0010_dead_letter_discard), on both dialects: the service,
`headway dlq discard` / `dlq list --discarded`, and `/dead-letters` in the API. A discarded row
stays `Dead` as history, is no longer listed, and can never be replayed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, inspect, select
from typer.testing import CliRunner

from engine.adapters.memory_broker import MemoryBroker
from engine.adapters.rabbitmq import RabbitMQBroker
from engine.adapters.tables import task_schedule
from engine.cli import app as cli
from engine.core.messages import TaskMessage, encode_message
from engine.ports import DeadLetter, Delivery, OutgoingMessage
from engine.services.dead_letters import (
    DeadRow,
    count_dead_rows,
    discard_dead_letters,
    list_dead_rows,
    replay_dead_letters,
)
from tests.integration.conftest import API_NOW, Clock, TestClient, make_app
from tests.integration.helpers import add_cron_task
from tests.integration.test_rabbitmq import consume

pytestmark = pytest.mark.integration

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
YEARLY = "0 0 1 1 *"


def add_rows(engine: Engine, *statuses: str) -> list[int]:
    """One schedule row per status, a minute apart, the Dead ones with a reason."""
    task = add_cron_task(engine, NOW, YEARLY)
    with engine.begin() as connection:
        return [
            connection.execute(
                insert(task_schedule)
                .values(
                    task_id=task.id,
                    scheduled_time=NOW - timedelta(hours=1, minutes=i),
                    status=status,
                    attempt=3,
                    finished_at=NOW - timedelta(minutes=50 - i),
                    last_error="HTTP 500" if status == "Dead" else None,
                )
                .returning(task_schedule.c.id)
            ).scalar_one()
            for i, status in enumerate(statuses)
        ]


def row_state(engine: Engine, row_id: int) -> tuple[str, datetime | None]:
    with engine.connect() as connection:
        query = select(task_schedule.c.status, task_schedule.c.discarded_at).where(
            task_schedule.c.id == row_id
        )
        status, discarded_at = connection.execute(query).one()
        return status, discarded_at


def test_live_and_discarded_dead_letters_each_have_a_partial_index(db_engine: Engine) -> None:
    dialect = db_engine.dialect.name
    indexes = {index["name"]: index for index in inspect(db_engine).get_indexes("task_schedule")}

    def predicate(name: str) -> str:
        return str(indexes[name]["dialect_options"][f"{dialect}_where"]).lower()

    assert indexes["task_schedule_dead"]["column_names"] == ["finished_at", "id"]
    assert "'dead'" in predicate("task_schedule_dead")
    assert "discarded_at is null" in predicate("task_schedule_dead")
    assert indexes["task_schedule_discarded"]["column_names"] == ["discarded_at", "id"]
    assert "discarded_at is not null" in predicate("task_schedule_discarded")


def test_discard_hides_the_row_keeps_it_dead_and_replay_refuses_it(db_engine: Engine) -> None:
    dead, done, other = add_rows(db_engine, "Dead", "Succeeded", "Dead")
    at = NOW + timedelta(minutes=5)

    report = discard_dead_letters(db_engine, MemoryBroker(), {dead, done}, 100, at)

    assert (report.discarded, report.stale, report.not_dead) == (1, 0, [done])
    assert row_state(db_engine, dead) == ("Dead", at)
    assert [row.schedule_id for row in list_dead_rows(db_engine, 10)] == [other]
    [gone] = list_dead_rows(db_engine, 10, discarded=True)
    assert gone == DeadRow(dead, "http", 3, "HTTP 500", NOW - timedelta(minutes=50), at)
    assert (count_dead_rows(db_engine), count_dead_rows(db_engine, discarded=True)) == (1, 1)

    replayed = replay_dead_letters(db_engine, MemoryBroker(), {dead, other}, 100)
    assert (replayed.replayed, replayed.discarded, replayed.not_dead) == (1, [dead], [])
    assert row_state(db_engine, dead) == ("Dead", at)
    assert row_state(db_engine, other) == ("Scheduled", None)

    again = discard_dead_letters(db_engine, MemoryBroker(), {dead}, 100, at + timedelta(hours=1))
    assert (again.discarded, again.not_dead) == (0, [dead])
    assert row_state(db_engine, dead) == ("Dead", at)  # the first discard's instant stays


def test_discarded_rows_are_listed_latest_discarded_first(db_engine: Engine) -> None:
    a, b, c = add_rows(db_engine, "Dead", "Dead", "Dead")
    for row_id, minutes in ((a, 2), (b, 9), (c, 5)):
        discard_dead_letters(db_engine, MemoryBroker(), {row_id}, 10, NOW + timedelta(minutes=minutes))
    assert [row.schedule_id for row in list_dead_rows(db_engine, 10, discarded=True)] == [b, c, a]
    assert [row.schedule_id for row in list_dead_rows(db_engine, 2, discarded=True)] == [b, c]
    assert list_dead_rows(db_engine, 10) == []


def test_discard_removes_the_message_from_rabbitmq(pg_engine: Engine, amqp_url: str, queue_base: str) -> None:
    dead, kept = add_rows(pg_engine, "Dead", "Dead")
    broker = RabbitMQBroker(amqp_url, queue_base)
    bodies = [
        encode_message(TaskMessage(row_id, 1, "http", 3, NOW - timedelta(hours=1))) for row_id in (dead, kept)
    ]
    broker.publish([OutgoingMessage(body, str(i)) for i, body in enumerate(bodies)])
    buried: list[bytes] = []

    def bury(delivery: Delivery) -> None:
        buried.append(delivery.body)
        delivery.dead_letter(delivery.body, "gave up: HTTP 500")

    consume(broker, bury, lambda: len(buried) == 2)
    try:
        report = discard_dead_letters(pg_engine, broker, {dead}, 100, NOW)
        assert (report.discarded, report.kept, report.not_dead) == (1, 1, [])
        assert row_state(pg_engine, dead) == ("Dead", NOW)
        letters: list[DeadLetter] = []
        broker.visit_dead_letters(lambda letter: letters.append(letter) or False, 10)
        assert [letter.body for letter in letters] == [bodies[1]]
    finally:
        broker.close()


Headway = Callable[..., tuple[int, str, str]]


@pytest.fixture
def headway(db_url: str) -> Headway:
    def run(*args: str, answer: str | None = None) -> tuple[int, str, str]:
        env = {"HEADWAY_DATABASE_URL": db_url, "HEADWAY_BROKER_URL": "memory://"}
        result = CliRunner().invoke(cli, list(args), env=env, input=answer)
        return result.exit_code, result.stdout, result.stderr

    return run


def test_cli_discard_asks_first_unless_yes(db_engine: Engine, headway: Headway) -> None:
    dead, done, other = add_rows(db_engine, "Dead", "Succeeded", "Dead")

    code, out, err = headway("dlq", "discard", str(dead), answer="n\n")
    assert code == 1 and f"Discard row {dead}?" in out and err.endswith("error: nothing discarded\n")
    assert row_state(db_engine, dead) == ("Dead", None)

    code, out, _ = headway("dlq", "discard", str(dead), answer="y\n")
    assert code == 0 and "1 discarded" in out
    assert row_state(db_engine, dead)[1] is not None

    code, out, err = headway("dlq", "discard", "--yes", str(done))
    assert code == 1 and out.startswith("0 discarded")
    assert err == f"error: not a dead letter, nothing discarded: row {done}\n"

    code, out, err = headway("dlq", "replay", str(dead))
    assert code == 1 and err == f"error: discarded, not replayed: row {dead}\n"

    code, out, _ = headway("dlq", "list", "--json")
    assert [json.loads(line)["schedule_id"] for line in out.splitlines()] == [other]
    code, out, _ = headway("dlq", "list", "--discarded", "--json")
    [entry] = [json.loads(line) for line in out.splitlines()]
    assert (entry["schedule_id"], entry["reason"]) == (dead, "HTTP 500") and entry["discarded_at"]

    code, out, _ = headway("dlq", "discard", "--all", "--yes")
    assert code == 0 and out.startswith("1 discarded")
    assert row_state(db_engine, other)[1] is not None
    code, out, _ = headway("dlq", "list")
    assert out == "0 dead-lettered messages\n"


def test_cli_discard_wants_rows_or_all(headway: Headway) -> None:
    code, _, err = headway("dlq", "discard", "--yes")
    assert code == 2 and "name the rows to discard" in err
    code, _, err = headway("dlq", "discard", "--all", "--yes", "5")
    assert code == 2 and "not both" in err


@pytest.fixture
def api(db_engine: Engine) -> TestClient:
    return TestClient(make_app(db_engine, Clock(API_NOW)))


def test_api_lists_replays_and_discards(db_engine: Engine, api: TestClient) -> None:
    dead, replay_me, discard_me = add_rows(db_engine, "Dead", "Dead", "Dead")

    page = api.get("/dead-letters").json()
    assert page["total"] == 3 and [item["schedule_id"] for item in page["items"]] == [
        dead,
        replay_me,
        discard_me,
    ]
    assert page["items"][0] | {"finished_at": None} == {
        "schedule_id": dead,
        "task_type": "http",
        "attempt": 3,
        "reason": "HTTP 500",
        "finished_at": None,
        "discarded_at": None,
    }

    answer = api.post("/dead-letters/replay", json={"schedule_ids": [replay_me]})
    assert answer.status_code == 200
    assert answer.json() == {"replayed": 1, "already_replayed": 0, "not_dead": [], "discarded": []}
    answer = api.post("/dead-letters/discard", json={"schedule_ids": [discard_me]})
    assert answer.status_code == 200 and answer.json() == {"discarded": 1, "stale": 0, "not_dead": []}

    assert row_state(db_engine, replay_me) == ("Scheduled", None)
    assert row_state(db_engine, discard_me) == ("Dead", API_NOW)
    assert [item["schedule_id"] for item in api.get("/dead-letters").json()["items"]] == [dead]
    discarded = api.get("/dead-letters", params={"discarded": "true"}).json()
    assert discarded["total"] == 1 and discarded["items"][0]["schedule_id"] == discard_me
    assert discarded["items"][0]["discarded_at"] == "2026-06-01T10:00:30Z"


def test_api_refuses_unknown_not_dead_and_discarded_rows_and_changes_nothing(
    db_engine: Engine, api: TestClient
) -> None:
    dead, done, gone = add_rows(db_engine, "Dead", "Succeeded", "Dead")
    api.post("/dead-letters/discard", json={"schedule_ids": [gone]})

    for action in ("replay", "discard"):
        answer = api.post(f"/dead-letters/{action}", json={"schedule_ids": [dead, 999_999]})
        assert answer.status_code == 404 and answer.json() == {"detail": "no schedule row 999999"}
        answer = api.post(f"/dead-letters/{action}", json={"schedule_ids": [dead, done, gone]})
        assert answer.status_code == 409
        assert answer.json() == {
            "detail": f"not a dead letter: row {done} (not dead), row {gone} (discarded)"
        }
    assert row_state(db_engine, dead) == ("Dead", None)
    assert row_state(db_engine, done) == ("Succeeded", None)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"schedule_ids": []}, ["body", "schedule_ids"]),
        ({"schedule_ids": [0]}, ["body", "schedule_ids", 0]),
        ({"schedule_ids": [1, "2"]}, ["body", "schedule_ids", 1]),
        ({"schedule_ids": [2**63]}, ["body", "schedule_ids", 0]),
        ({"schedule_ids": list(range(1, 1_002))}, ["body", "schedule_ids"]),
        ({}, ["body", "schedule_ids"]),
    ],
)
def test_api_bad_ids_are_422_naming_the_field(
    api: TestClient, body: dict[str, object], loc: list[object]
) -> None:
    for action in ("replay", "discard"):
        answer = api.post(f"/dead-letters/{action}", json=body)
        assert answer.status_code == 422
        assert loc in [problem["loc"] for problem in answer.json()["detail"]]
