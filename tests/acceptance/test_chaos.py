"""The short chaos run (tests/acceptance/chaos.py): 600 tasks over 24 s while processors are
killed every few seconds, distributors are killed twice, PostgreSQL is stopped twice and
RabbitMQ is stopped once and killed once. The long run is benchmarks/chaos.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.acceptance.chaos import ChaosConfig, run_chaos

pytestmark = [pytest.mark.acceptance, pytest.mark.xdist_group("chaos")]


def test_nothing_is_lost_and_nothing_runs_twice_but_across_a_kill_under_every_fault_at_once(
    tmp_path: Path,
) -> None:
    report = run_chaos(ChaosConfig(tasks=600, seed=7), tmp_path)
    assert report.faults["processor_kill"] >= 3
    assert report.faults["distributor_kill"] == 2
    assert report.faults["postgresql_stop_fast"] == report.faults["postgresql_stop_immediate"] == 1
    assert report.faults["rabbitmq_stop"] == report.faults["rabbitmq_kill"] == 1
    assert report.final_after_s is not None, f"rows not final after the faults: {report}"
    assert report.statuses == {"Succeeded": 600}
    assert report.missing_keys == 0, "every row reached the sink"
    assert not report.unexplained_repeats, f"run twice without a kill: {sorted(report.unexplained_repeats)}"
    assert set(report.exit_codes.values()) <= {0}, f"exit codes {report.exit_codes}; logs in {tmp_path}"
