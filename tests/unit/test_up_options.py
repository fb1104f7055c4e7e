"""`headway up` runs the processor with the retry and shutdown settings the separate
`headway processor` reads, so one set of HEADWAY_* variables means the same in both modes."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.processes import embedded


def test_up_passes_retry_and_grace_settings_to_its_processor(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def capture(*args: Any) -> None:
        seen["processor"] = args[5]

    monkeypatch.setattr(embedded, "run_embedded", capture)
    env = {
        "HEADWAY_DATABASE_URL": sqlite_url,
        "HEADWAY_BROKER_URL": "memory://",
        "HEADWAY_RETRY_BASE_MS": "250",
        "HEADWAY_SHUTDOWN_GRACE_S": "7",
    }
    result = CliRunner().invoke(app, ["up", "--no-api", "--retry-max-ms", "4000"], env=env)

    assert result.exit_code == 0, result.output
    config = seen["processor"]
    assert (config.backoff_base_ms, config.backoff_max_ms, config.shutdown_grace_s) == (250, 4_000, 7.0)
