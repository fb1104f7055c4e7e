"""`--replications R`: what is pooled, averaged and maxed, as docs/simulation.md states."""

from datetime import UTC, datetime

import numpy as np
import pytest

from simulation.arrivals import expand, window_for
from simulation.report import format_summary
from simulation.run import Scenario, capacity_plan, simulate, simulate_arrivals
from simulation.scenarios import SINGLE_SLOT
from simulation.workload import parse_workload

# Heavy-tailed bursts on the formula's 5 instances, plus random pings: some seeds start a task
# late and some do not, and the task count varies between replications.
WORKLOAD = parse_workload(
    """
task_types:
  sync: {duration: {model: lognormal, mean_ms: 2000, p95_ms: 7000}}
  ping: {duration: {model: exponential, mean_ms: 200}}
tasks:
  - {name: syncs, task_type: sync, cron: "* * * * *", count: 20}
  - {name: pings, task_type: ping, rate_per_min: 5}
"""
)
SCENARIO = Scenario(
    window_for(datetime(2026, 12, 1, 8, tzinfo=UTC), 0.25),
    dispatch=SINGLE_SLOT,
    replications=4,
    seed=1,
)


def delays_of(seed: int) -> np.ndarray:
    """One replication's start delays in seconds, rebuilt from its seed."""
    arrivals = expand(WORKLOAD, SCENARIO.window, np.random.default_rng(seed))
    plan, _ = capacity_plan(WORKLOAD, arrivals, SCENARIO)
    outcome = simulate_arrivals(arrivals, plan, SCENARIO)
    return (outcome.start_us - arrivals.scheduled_us) / 1e6


def test_replications_pool_tasks_and_delays_average_cost_and_take_the_highest_peak():
    result = simulate(WORKLOAD, SCENARIO)
    runs = [replication.summary for replication in result.replications]
    assert len(runs) == 4 and len({run.tasks for run in runs}) > 1
    pooled = result.summary

    assert pooled.tasks == sum(run.tasks for run in runs)
    on_time = sum(round(run.on_time_pct * run.tasks / 100) for run in runs)
    assert pooled.on_time_pct == pytest.approx(100 * on_time / pooled.tasks)
    delays = np.concatenate([delays_of(replication.seed) for replication in result.replications])
    assert len(delays) == pooled.tasks
    assert pooled.start_delay_s.mean == pytest.approx(delays.mean())
    assert pooled.start_delay_s.p99 == pytest.approx(np.percentile(delays, 99))
    assert pooled.start_delay_s.max == pytest.approx(delays.max())
    assert pooled.instance_minutes == pytest.approx(np.mean([run.instance_minutes for run in runs]))
    assert pooled.peak_instances == max(run.peak_instances for run in runs)


def test_the_verdict_fails_when_any_replication_fails():
    result = simulate(WORKLOAD, SCENARIO)
    verdicts = [replication.summary.verdict for replication in result.replications]
    assert "pass" in verdicts and "fail" in verdicts
    assert result.summary.verdict == "fail"
    assert result.summary.on_time_pct > 99  # mostly on time, and still a fail


def test_the_summary_says_the_tasks_are_pooled():
    text = format_summary(simulate(WORKLOAD, SCENARIO), SCENARIO)
    tasks = simulate(WORKLOAD, SCENARIO).summary.tasks
    assert f"Tasks       {tasks:,} (4 replications pooled)" in text
    assert "instance-minutes (mean per replication)" in text
