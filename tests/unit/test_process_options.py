"""Bad options of the distributor, the processor, `headway up` and `headway dlq` stop the
command before it touches the database or the broker: exit 2 and one line naming the option
or the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app

AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["distributor", "--broker-url", "foo://x"], {}, "--broker-url: expected amqp://"),
        (
            ["dlq", "list"],
            {"HEADWAY_BROKER_URL": "amqp://gu est:@[::1"},
            "HEADWAY_BROKER_URL: not a valid amqp",
        ),
        (["dlq", "list", "--broker-url", "amqp://h:99999/"], {}, "--broker-url: not a valid amqp URL"),
        (["dlq", "list", "--broker-url", AMQP + "?heartbeat=abc"], {}, "broker URL: Invalid heartbeat"),
        (["processor", "--broker-url", "memory://"], {}, "memory:// is the in-process broker"),
        (["distributor"], {"HEADWAY_BROKER_URL": "memory://"}, "memory:// is the in-process broker"),
        (["processor", "--queue-type", "stream"], {}, "--queue-type: Input should be 'quorum' or 'classic'"),
        (["dlq", "list"], {"HEADWAY_QUEUE_TYPE": "bogus"}, "HEADWAY_QUEUE_TYPE: Input should be 'quorum'"),
        (["dlq", "list", "--queue", ""], {}, "--queue: must not be empty"),
        (["dlq", "replay"], {}, "name the rows to replay (ROW_ID ...), or pass --all"),
        (["dlq", "replay", "--all", "3"], {}, "name the rows to replay (ROW_ID ...) or pass --all, not both"),
        (["dlq", "replay", "--all", "--queue", ""], {}, "--queue: must not be empty"),
        (["processor", "--queue", "amq.x"], {}, "--queue: names starting with amq. are reserved"),
        (
            ["processor", "--concurrency", "-1"],
            {},
            "--concurrency: Input should be greater than or equal to 1",
        ),
        (["up"], {"HEADWAY_PROCESSOR_PREFETCH": "-3"}, "HEADWAY_PROCESSOR_PREFETCH: Input should be greater"),
        (["processor", "--prefetch", "1001"], {}, "--prefetch: Input should be less than or equal to 1000"),
        (
            ["distributor", "--batch-size", "0"],
            {},
            "--batch-size: Input should be greater than or equal to 1",
        ),
        (
            ["distributor"],
            {"HEADWAY_DISTRIBUTOR_POLL_INTERVAL_S": "2"},
            "HEADWAY_DISTRIBUTOR_POLL_INTERVAL_S:",
        ),
        (["processor", "--outbound-allow", "10.0.0.0/33"], {}, "--outbound-allow: '10.0.0.0/33' is neither"),
        (
            ["up"],
            {"HEADWAY_OUTBOUND_ALLOW": "127.0.0.1,http://sink/"},
            "HEADWAY_OUTBOUND_ALLOW: 'http://sink/'",
        ),
        (
            ["processor"],
            {"HEADWAY_OUTBOUND_ALLOW": "foo bar"},
            "HEADWAY_OUTBOUND_ALLOW: 'foo bar' is neither",
        ),
        (["processor", "--reminder-url", "ftp://x"], {}, "--reminder-url: expected an http:// or https://"),
        (["up"], {"HEADWAY_NOTIFICATION_URL": "sink:80"}, "HEADWAY_NOTIFICATION_URL: expected an http://"),
        (["processor", "--heartbeat-s", "40"], {}, "--heartbeat-s (40) must be shorter than --lease-s (30)"),
    ],
)
def test_a_bad_option_exits_2_with_one_line_before_touching_anything(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    env = {"HEADWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}", "HEADWAY_BROKER_URL": AMQP} | env
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {expected}"), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "h.db").exists()
