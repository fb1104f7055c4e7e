"""Rule comparison and the fixed-fleet sweep the planning notebook is built on."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from simulation.arrivals import window_for
from simulation.planning import (
    EXAMPLE_WORKLOAD,
    REQUIRED,
    compare_rules,
    instances_chart,
    instances_frame,
    smallest_passing_fleet,
    summary_frame,
    sweep_chart,
    sweep_fixed,
    sweep_frame,
    workload_frame,
)
from simulation.run import Engine, Scenario
from simulation.scenarios import SINGLE_SLOT
from simulation.workload import load_workload, parse_workload

# 100 tasks of 900 ms every five minutes. On c instances task k starts at
# floor(k / c) x 905 ms + 5 ms (5 ms dispatch each), so the last one, k = 99, is on time
# (<= 10 s) when floor(99 / c) <= 11: c = 9 passes (9.96 s), c = 8 does not (10.865 s).
BURSTS = parse_workload(
    """
task_types:
  report: {duration: {model: fixed, mean_ms: 900}}
tasks:
  - {name: reports, task_type: report, cron: "*/5 * * * *", count: 100}
"""
)
SCENARIO = Scenario(window_for(datetime(2026, 12, 1, 8, tzinfo=UTC), 0.5), dispatch=SINGLE_SLOT)


def test_rules_side_by_side_on_the_same_tasks():
    results = compare_rules(BURSTS, SCENARIO, ["formula", "corrected", "8"])
    frame = summary_frame(results)
    assert list(frame.index) == ["formula", "corrected", "8"]
    assert frame.index.name == "instances"
    assert set(frame["tasks"]) == {600}
    # The formula asks for ceil(90,000 / 9,000) = 10 instances, the corrected rule for
    # ceil(100 x 905 / 8,995) = 11; both pass, the fixed 8 does not.
    assert frame.loc["formula", "peak_instances"] == 10
    assert frame.loc["corrected", "peak_instances"] == 11
    assert list(frame["verdict"]) == ["pass", "pass", "fail"]
    assert frame.loc["8", "delay_max_s"] == pytest.approx(12 * 0.905 + 0.005)
    assert list(frame.columns) == [
        "tasks",
        "on_time_pct",
        "delay_mean_s",
        "delay_p50_s",
        "delay_p95_s",
        "delay_p99_s",
        "delay_max_s",
        "instance_minutes",
        "peak_instances",
        "verdict",
    ]


def test_instances_frame_has_required_once_and_provided_per_rule():
    results = compare_rules(BURSTS, SCENARIO, ["formula", "8"])
    frame = instances_frame(results)
    assert set(frame["line"]) == {REQUIRED, "provided: formula", "provided: 8"}
    required = frame[frame["line"] == REQUIRED].set_index("minute")["instances"]
    assert required.iloc[0] == 10 and required.iloc[1] == 0  # a burst at :00, none at :01
    fixed = frame[frame["line"] == "provided: 8"]["instances"]
    assert set(fixed) == {8.0}
    assert str(frame["minute"].dt.tz) == "UTC"
    chart = instances_chart(results).to_dict()
    assert chart["mark"]["interpolate"] == "step-after"


def test_the_sweep_finds_the_smallest_passing_fleet():
    trials = sweep_fixed(BURSTS, SCENARIO, range(7, 12))
    verdicts = {trial.instances: trial.summary.verdict for trial in trials}
    assert verdicts == {7: "fail", 8: "fail", 9: "pass", 10: "pass", 11: "pass"}
    assert trials[2].summary.start_delay_s.max == pytest.approx(11 * 0.905 + 0.005)
    assert list(sweep_frame(trials).index) == [7, 8, 9, 10, 11]
    assert smallest_passing_fleet(BURSTS, SCENARIO, 40) == 9
    assert smallest_passing_fleet(BURSTS, SCENARIO, 9) == 9
    assert smallest_passing_fleet(BURSTS, SCENARIO, 8) is None
    assert "layer" in sweep_chart(trials, 10.0).to_dict()


def test_the_smallest_fleet_passes_every_replication():
    noisy = parse_workload(
        """
task_types:
  sync: {duration: {model: lognormal, mean_ms: 2000, p95_ms: 7000}}
tasks:
  - {name: syncs, task_type: sync, cron: "* * * * *", count: 20}
"""
    )
    scenario = replace(SCENARIO, replications=4)
    smallest = smallest_passing_fleet(noisy, scenario, 30)
    assert smallest is not None
    [below, at] = sweep_fixed(noisy, scenario, [smallest - 1, smallest])
    assert (below.summary.verdict, at.summary.verdict) == ("fail", "pass")


def test_the_bisection_refuses_prefetch_above_one():
    hoarding = replace(SCENARIO, dispatch=replace(SINGLE_SLOT, prefetch=4), engine=Engine.SIMPY)
    with pytest.raises(ValueError, match="prefetch 1"):
        smallest_passing_fleet(BURSTS, hoarding, 20)


def test_workload_frame_describes_each_entry():
    frame = workload_frame(load_workload(EXAMPLE_WORKLOAD))
    assert list(frame["name"]) == ["hourly-reports", "nightly-sync", "one-off", "pings"]
    assert list(frame["due"]) == [
        "cron 0 * * * * (UTC)",
        "cron 30 2 * * * (Europe/Berlin)",
        "once at 2026-12-01T09:00:00+00:00",
        "60 a minute at random",
    ]
    assert list(frame["count"]) == [1000, 1, 1, 1]
    assert list(frame["duration"]) == ["fixed", "lognormal", "lognormal", "exponential"]
    assert frame.loc[3, "sd_ms"] == 8000  # exponential: the sd is the mean
