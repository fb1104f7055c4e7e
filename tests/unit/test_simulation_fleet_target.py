"""The smallest fleet for an on-time share, by bisection, on bursts with known answers."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from simulation.arrivals import window_for
from simulation.fleet_target import fleet_for_on_time_share
from simulation.run import Scenario
from simulation.scenarios import SINGLE_SLOT
from simulation.workload import parse_workload

BURSTS = parse_workload(
    """
task_types:
  report: {duration: {model: fixed, mean_ms: 900}}
tasks:
  - {name: reports, task_type: report, cron: "*/5 * * * *", count: 100}
"""
)
SCENARIO = Scenario(
    window_for(datetime(2026, 12, 1, 8, tzinfo=UTC), 0.5), dispatch=SINGLE_SLOT, replications=3
)


def test_every_task_on_time_needs_the_smallest_passing_fleet():
    # 100 x 905 ms on n slots: the last starts at floor(99 / n) x 0.905 + 0.005 s, within
    # 10 s from n = 9 (11 rounds: 9.96 s) and not at 8 (12 rounds: 10.865 s).
    answer = fleet_for_on_time_share(BURSTS, SCENARIO, 40, 100.0)
    assert answer.instances == 9
    assert answer.per_replication == (9, 9, 9)
    assert answer.summaries[8].on_time_pct < 100 <= answer.summaries[9].on_time_pct


def test_a_lower_share_needs_fewer_instances():
    # With n instances task k starts at floor(k / n) x 0.905 + 0.005 s, within 10 s for
    # rounds 0 to 11: 12 n tasks. 4 give 48 %, 5 give 60 %: a 60 % target needs 5.
    answer = fleet_for_on_time_share(BURSTS, SCENARIO, 40, 60.0)
    assert answer.instances == 5
    assert answer.summaries[4].on_time_pct == pytest.approx(48.0)
    assert answer.summaries[5].on_time_pct == pytest.approx(60.0)


def test_too_small_a_ceiling_and_bad_input():
    assert fleet_for_on_time_share(BURSTS, SCENARIO, 4, 100.0).instances is None
    with pytest.raises(ValueError, match="prefetch 1"):
        hoarding = replace(SCENARIO, dispatch=replace(SINGLE_SLOT, prefetch=2))
        fleet_for_on_time_share(BURSTS, hoarding, 4, 99)
    with pytest.raises(ValueError, match="target_pct"):
        fleet_for_on_time_share(BURSTS, SCENARIO, 4, 0)
