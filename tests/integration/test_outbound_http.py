"""The built-in HTTP handler and its outbound guard, against a local sink."""

from __future__ import annotations

import pytest

from engine.adapters.handlers import HandlerSettings, load_handlers
from engine.core.execution import TaskContext, TaskFailed
from engine.core.outbound import parse_allowlist
from tests.sink import Sink, running_sink

pytestmark = pytest.mark.integration


def call(allow: str, payload: dict[str, object], timeout_s: float = 5) -> str | None:
    handler = load_handlers(HandlerSettings(parse_allowlist(allow)))["http"]
    return handler(TaskContext(77, 1, "http", 1, 3, timeout_s, payload=payload))


@pytest.fixture
def sink() -> object:
    with running_sink() as sink:
        yield sink


def test_loopback_is_refused_by_default_and_nothing_is_sent(sink: Sink) -> None:
    with pytest.raises(TaskFailed) as caught:
        call("", {"url": f"{sink.url}/ok"})
    assert caught.value.outcome == "blocked_destination" and not caught.value.retryable
    assert sink.count() == 0


def test_metadata_address_is_refused() -> None:
    with pytest.raises(TaskFailed) as caught:
        call("", {"url": "http://169.254.169.254/latest/meta-data/"})
    assert caught.value.outcome == "blocked_destination"


def test_allowlisted_call_succeeds_with_the_idempotency_key(sink: Sink) -> None:
    output = call("127.0.0.1/32", {"url": f"{sink.url}/ok", "method": "POST", "json": {"a": 1}})
    assert output is not None and output.startswith("HTTP 200")
    assert dict(sink.keys) == {"77": 1}


def test_every_redirect_hop_is_checked(sink: Sink) -> None:
    port = sink.url.rsplit(":", 1)[1]
    target = f"http://127.0.0.1:{port}/ok"
    with pytest.raises(TaskFailed) as caught:
        # localhost is allowed by name; the hop to 127.0.0.1 is not.
        call("localhost", {"url": f"http://localhost:{port}/redirect?to={target}"})
    assert caught.value.outcome == "blocked_destination"
    assert sink.count() == 1  # the redirect itself, never the blocked target


def test_server_error_is_retryable_and_timeout_is_reported(sink: Sink) -> None:
    with pytest.raises(TaskFailed) as failed:
        call("127.0.0.1", {"url": f"{sink.url}/fail"})
    assert failed.value.retryable and failed.value.outcome == "http_status"
    with pytest.raises(TaskFailed) as slow:
        call("127.0.0.1", {"url": f"{sink.url}/slow?ms=1500"}, timeout_s=0.3)
    assert slow.value.outcome == "timeout" and slow.value.retryable


def test_bad_payload_fails_without_retry() -> None:
    with pytest.raises(TaskFailed) as caught:
        call("", {"method": "GET"})
    assert caught.value.outcome == "invalid_payload" and not caught.value.retryable
