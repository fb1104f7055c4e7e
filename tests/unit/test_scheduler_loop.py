"""The Scheduler's loop when its database is unavailable (no servers: an unopenable SQLite file)."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.adapters.database import create_db_engine
from engine.processes import scheduler
from engine.processes.scheduler import retry_delay_s, run_forever

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("failures", "interval_s", "delay_s"),
    [(0, 60, 1), (1, 60, 2), (2, 60, 4), (3, 60, 8), (6, 60, 60), (1000, 60, 60), (0, 0.5, 0.5), (3, 5, 5)],
)
def test_retries_back_off_from_the_pickup_interval_up_to_the_full_interval(
    failures: int, interval_s: float, delay_s: float
) -> None:
    assert retry_delay_s(failures, interval_s) == delay_s


def test_a_database_that_is_down_gives_one_line_per_failed_pass_not_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scheduler, "PICKUP_INTERVAL_S", 0.001)
    engine = create_db_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'headway.db'}")
    stop = threading.Event()
    reads: list[datetime] = []

    def clock() -> datetime:
        reads.append(NOW)
        if len(reads) == 4:
            stop.set()
        return NOW

    with caplog.at_level(logging.INFO, logger="headway.scheduler"):
        run_forever(engine, 0.05, 3.0, stop=stop, clock=clock)
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 4
    assert all(record.exc_info is None for record in errors)
    assert errors[0].getMessage() == "pass failed, rolled back; retrying: unable to open database file"
    engine.dispose()
