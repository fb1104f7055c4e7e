"""Bad input on PostgreSQL: every invalid value is a 4xx naming the field, never a 500.

The test client re-raises server errors, so a 500 would fail these tests loudly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.conftest import API_NOW

pytestmark = pytest.mark.integration


@pytest.fixture
def api(unchanged_api: TestClient) -> TestClient:
    return unchanged_api


GOOD = {"name": "report", "task_type": "http", "kind": "cron", "cron_expression": "*/15 * * * *"}
JSON = {"content-type": "application/json"}
ONCE = {"kind": "once", "cron_expression": None}
# A day after the API's frozen clock: in the future for every run, whatever today's date.
TOMORROW = API_NOW + timedelta(days=1)
IMMEDIATE = {"kind": "immediate", "cron_expression": None}
AFTER = {"kind": "after", "cron_expression": None}


def raw_immediate(payload: bytes) -> bytes:
    """A body with a raw JSON payload, for what `json=` cannot send (NaN, lone surrogates)."""
    return b'{"name": "x", "task_type": "http", "kind": "immediate", "payload": ' + payload + b"}"


def problems(response: Any) -> list[tuple[list[Any], str]]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail and all(set(item) == {"loc", "msg", "type"} for item in detail)
    return [(item["loc"], item["msg"]) for item in detail]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"cron_expression": "61 * * * *"}, "cron_expression", "61 is out of range"),
        ({"cron_expression": "* * *"}, "cron_expression", "expected 5 fields"),
        ({"cron_expression": "*/0 * * * *"}, "cron_expression", "step must be at least 1"),
        ({"cron_expression": ""}, "cron_expression", "at least 1"),
        ({"timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus"),
        ({"timezone": "Europe"}, "timezone", "unknown timezone"),  # a directory of the tz database
        ({"timezone": "../../etc/passwd"}, "timezone", "unknown timezone"),
        ({"task_type": "no-such-type"}, "task_type", "unknown task type"),
        ({"task_type": ""}, "task_type", "at least 1"),
        ({"task_type": None}, "task_type", "string"),
        ({"kind": "weekly"}, "kind", "'immediate', 'cron', 'once' or 'after'"),
        ({"kind": None}, "kind", "'immediate', 'cron', 'once' or 'after'"),
        ({"cron_expression": None}, "cron_expression", "needs cron_expression"),
        ({"run_at": TOMORROW.isoformat()}, "run_at", "only for once"),
        (ONCE, "run_at", "needs run_at"),
        # The API's clock is frozen at API_NOW: 30 s before it, and the instant itself.
        (ONCE | {"run_at": (API_NOW - timedelta(seconds=30)).isoformat()}, "run_at", "not in the future"),
        (ONCE | {"run_at": API_NOW.isoformat()}, "run_at", "not in the future"),
        (ONCE | {"run_at": TOMORROW.replace(tzinfo=None).isoformat()}, "run_at", "timezone"),
        (ONCE | {"run_at": "tomorrow"}, "run_at", "datetime"),
        (ONCE | {"run_at": 1893456000}, "run_at", "ISO-8601"),
        (ONCE | {"run_at": "9999-12-31T23:59:59-14:00"}, "run_at", "range"),
        ({"kind": "immediate", "timezone": "UTC"}, "cron_expression", "only for cron"),
        ({"name": ""}, "name", "at least 1"),
        ({"name": "   "}, "name", "blank"),
        ({"name": "\t\n"}, "name", "blank"),
        ({"name": "x" * 201}, "name", "at most 200"),
        ({"name": 42}, "name", "string"),
        ({"name": ["a"]}, "name", "string"),
        ({"name": "nul\u0000byte"}, "name", "NUL"),
        ({"cron_expression": "* * * * *\u0000"}, "cron_expression", "NUL"),
        ({"active": "yes"}, "active", "boolean"),
        ({"active": 1}, "active", "boolean"),
        ({"payload": []}, "payload", "dictionary"),
        ({"payload": "{}"}, "payload", "dictionary"),
        ({"payload": None}, "payload", "dictionary"),
        ({"payload": {"key": "nul\u0000"}}, "payload", "NUL"),
        ({"payload": {"nul\u0000key": 1}}, "payload", "NUL"),
        ({"payload": {"ok": [{"c": "x"}], "deep": json.loads("[" * 40 + "]" * 40)}}, "payload", "deeper"),
        ({"payload": {"big": "x" * 300_000}}, "payload", "bytes"),
        ({"surprise": 1}, "surprise", "not permitted"),
        # Scheduling policies (engine.core.policies): values, and combinations that mean nothing.
        ({"overlap_policy": "sometimes"}, "overlap_policy", "'allow', 'skip' or 'queue'"),
        ({"misfire_policy": "run_some"}, "misfire_policy", "'run_all', 'run_latest' or 'skip_missed'"),
        ({"misfire_policy": "run_latest", "misfire_grace_s": -1}, "misfire_grace_s", "greater than or equal"),
        ({"misfire_policy": "run_latest", "misfire_grace_s": "30"}, "misfire_grace_s", "integer"),
        ({"misfire_grace_s": 30}, "misfire_grace_s", "needs misfire_policy run_latest or skip_missed"),
        (IMMEDIATE | {"overlap_policy": "skip"}, "overlap_policy", "only for cron"),
        ({"timeout_s": 0}, "timeout_s", "greater than or equal to 1"),
        ({"timeout_s": 1.5}, "timeout_s", "integer"),
        ({"timeout_s": 3_000_000}, "timeout_s", "less than or equal"),
        ({"max_attempts": 0}, "max_attempts", "greater than or equal to 1"),
        ({"ordering_key": ""}, "ordering_key", "at least 1"),
        ({"ordering_key": "  "}, "ordering_key", "blank"),
        ({"max_attempts": 1_001}, "max_attempts", "less than or equal to 1000"),
        # Dependencies (engine.core.dependencies): an after task names an existing upstream.
        (AFTER, "after", "needs after"),
        ({"after": {"task_id": 1, "on": "success"}}, "after", "only for after"),
        (AFTER | {"after": {"task_id": 1, "on": "sometimes"}}, "after.on", "'success' or 'finished'"),
        (AFTER | {"after": {"task_id": "1"}}, "after.task_id", "integer"),
        (AFTER | {"after": {"task_id": 0}}, "after.task_id", "greater than or equal to 1"),
        (AFTER | {"after": {"task_id": 999_999}}, "after", "unknown upstream task 999999"),
        (ONCE | {"run_at": TOMORROW.isoformat(), "misfire_policy": "run_latest"}, "misfire_policy", "cron"),
    ],
)
def test_invalid_fields_get_422_naming_the_field(
    api: TestClient, change: dict[str, Any], field: str, words: str
) -> None:
    body = {key: value for key, value in (GOOD | change).items()}
    found = problems(api.post("/tasks", json=body))
    path = ["body", *field.split(".")]  # a nested field: "after.on"
    assert any(loc == path and words.lower() in msg.lower() for loc, msg in found), found


def test_a_cron_that_can_never_fire_gets_422(api: TestClient) -> None:
    # Valid syntax, but April has no 31st: the task would silently never run.
    found = problems(api.post("/tasks", json=GOOD | {"cron_expression": "0 0 31 4 *"}))
    assert [loc for loc, _ in found] == [["body", "cron_expression"]]


def test_missing_required_fields_are_each_named(api: TestClient) -> None:
    found = problems(api.post("/tasks", json={}))
    assert {tuple(loc) for loc, _ in found} == {("body", "name"), ("body", "task_type"), ("body", "kind")}


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b'{"name": "\\ud800", "task_type": "http", "kind": "immediate"}', "name", "unicode"),
        (raw_immediate(b'{"a": "\\udfff"}'), "payload", "surrogate"),
        (raw_immediate(b'{"a": NaN}'), "payload", "finite"),
        (raw_immediate(b'{"a": 1e400}'), "payload", "finite"),
        (raw_immediate(b'{"a": -Infinity}'), "payload", "finite"),
    ],
)
def test_json_that_python_parses_but_no_database_stores_gets_422(
    api: TestClient, raw: bytes, field: str, words: str
) -> None:
    found = problems(api.post("/tasks", content=raw, headers=JSON))
    assert any(loc == ["body", field] and words in msg for loc, msg in found), found


@pytest.mark.parametrize(
    ("raw", "headers"),
    [
        (b'{"name": "x",', JSON),
        (b"not json at all", JSON),
        (b"\xff\xfe\x00garbage", JSON),
        (b"[" * 100_000, JSON),  # deeper than Python's parser goes
        (b'{"n": 1' + b"0" * 5_000 + b"}", JSON),  # more digits than Python's int parser takes
        (b'"a string"', JSON),
        (b"[]", JSON),
        (b"null", JSON),
        (b"", JSON),
        (json.dumps(GOOD).encode(), {"content-type": "text/plain"}),
        (json.dumps(GOOD).encode(), {}),
    ],
)
def test_a_body_that_is_not_a_json_object_gets_400_or_422(
    api: TestClient, raw: bytes, headers: dict[str, str]
) -> None:
    response = api.post("/tasks", content=raw, headers=headers)
    assert response.status_code in (400, 422), response.text
    assert "detail" in response.json()


def test_an_oversized_body_gets_413(api: TestClient) -> None:
    body = json.dumps(GOOD | {"payload": {"blob": "x" * (1024 * 1024)}}).encode()
    assert api.post("/tasks", content=body, headers=JSON).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        yield b'{"name": "x", "payload": {"blob": "'
        for _ in range(64):
            yield b"y" * 32_768
        yield b'"}}'

    assert api.post("/tasks", content=chunks(), headers=JSON).status_code == 413


@pytest.mark.parametrize(
    "raw_id", ["0", "-1", "abc", "1.5", "1e3", "99999999999999999999", "9223372036854775808", "%00"]
)
@pytest.mark.parametrize(
    "path", ["/tasks/{id}", "/tasks/{id}/runs", "/tasks/{id}/inactive", "/tasks/{id}/run"]
)
def test_ids_that_are_not_positive_64_bit_integers_get_422(api: TestClient, raw_id: str, path: str) -> None:
    method = {"/tasks/{id}/inactive": "PUT", "/tasks/{id}/run": "POST"}.get(path, "GET")
    response = api.request(method, path.replace("{id}", raw_id))
    assert problems(response)[0][0] == ["path", "task_id"]


def test_the_largest_64_bit_id_is_a_404(api: TestClient) -> None:
    # Past validation, so the id reaches PostgreSQL's BIGINT comparison, which must not overflow.
    assert api.get("/tasks/9223372036854775807").status_code == 404
    assert api.put("/tasks/9223372036854775807", json=GOOD).status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/tasks", {"limit": 0}, "limit"),
        ("/tasks", {"limit": 501}, "limit"),
        ("/tasks", {"limit": "ten"}, "limit"),
        ("/tasks", {"offset": -1}, "offset"),
        ("/tasks", {"offset": 10**20}, "offset"),
        ("/tasks", {"kind": "weekly"}, "kind"),
        ("/tasks", {"active": "perhaps"}, "active"),
        ("/tasks", {"q": "nul\u0000"}, "q"),
        ("/tasks", {"q": "x" * 201}, "q"),
        ("/tasks", {"task_type": "t" * 65}, "task_type"),
        ("/tasks", {"task_type": "\u0000"}, "task_type"),
        ("/tasks/1/runs", {"limit": 1000}, "limit"),
        ("/tasks/1/runs", {"offset": -5}, "offset"),
        ("/scheduled-tasks-summary", {"hours": 0}, "hours"),
        ("/scheduled-tasks-summary", {"hours": -1}, "hours"),
        ("/scheduled-tasks-summary", {"hours": 169}, "hours"),
        ("/scheduled-tasks-summary", {"hours": "nan"}, "hours"),
        ("/scheduled-tasks-summary", {"hours": "inf"}, "hours"),
        ("/scheduled-tasks-summary", {"hours": "three"}, "hours"),
        ("/forecast", {"hours": 0}, "hours"),
        ("/forecast", {"hours": 1000}, "hours"),
        ("/forecast", {"hours": "-inf"}, "hours"),
    ],
)
def test_bad_query_parameters_get_422_naming_them(
    api: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    assert ["query", field] in [loc for loc, _ in problems(api.get(path, params=params))]


def test_problems_are_reported_together(api: TestClient) -> None:
    body = {"name": "", "task_type": "http", "kind": "cron", "active": "no"}
    found = {tuple(loc) for loc, _ in problems(api.post("/tasks", json=body))}
    assert found == {("body", "name"), ("body", "cron_expression"), ("body", "active")}
