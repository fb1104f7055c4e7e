"""Known answers: list scheduling, the formula's burst bound, Erlang C; fast path == SimPy."""

import math
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from simulation.arrivals import expand, window_for
from simulation.capacity import CapacityPlan, fixed_plan
from simulation.fast import simulate_fast
from simulation.model_simpy import simulate_simpy
from simulation.outcome import Dispatch, release_times
from simulation.run import Engine, Scenario, replication_seeds, simulate, simulate_arrivals
from simulation.workload import parse_workload

# Instances that run one task at a time: the textbook multi-server queue.
IDEAL = Dispatch(poll_interval_us=0, prefetch=1, overhead_us=0, concurrency=1)
START = datetime(2026, 12, 1, 8, tzinfo=UTC)


def single(lag=0, overhead=0, prefetch=1):
    return Dispatch(prefetch=prefetch, overhead_us=overhead, scale_up_lag_us=lag, concurrency=1)


def both(release, duration, plan, lag=0, overhead=0):
    fast = simulate_fast(release, duration, plan, single(lag, overhead))
    reference = simulate_simpy(release, duration, plan, single(lag, overhead))
    assert np.array_equal(fast.start_us, reference.start_us)
    return fast.start_us


@pytest.mark.parametrize(
    ("tasks", "instances", "duration_us", "overhead_us"),
    [(1000, 7, 450_000, 0), (37, 5, 3_000_000, 5_000), (5, 2, 10, 0)],
)
def test_a_burst_follows_list_scheduling_exactly(tasks, instances, duration_us, overhead_us):
    release = np.zeros(tasks, dtype=np.int64)
    duration = np.full(tasks, duration_us, dtype=np.int64)
    starts = both(release, duration, fixed_plan(instances), overhead=overhead_us)
    expected = [(k // instances) * (duration_us + overhead_us) + overhead_us for k in range(tasks)]
    assert starts.tolist() == expected


def test_list_scheduling_with_mixed_durations_is_greedy():
    # Instances A, B: t0 (5 s) on A, t1 (2 s) on B, t2 on B at 2, t3 on B at 5 (A and B tie).
    release = np.zeros(4, dtype=np.int64)
    duration = np.array([5, 2, 3, 1], dtype=np.int64) * 1_000_000
    assert both(release, duration, fixed_plan(2)).tolist() == [0, 0, 2_000_000, 5_000_000]


def burst(text):
    return parse_workload(f"task_types:\n{text}\ntasks:\n")


@pytest.mark.parametrize("seed", range(12))
def test_under_the_formula_a_burst_starts_within_capacity_times_one_minus_buffer(seed):
    rng = np.random.default_rng(seed)
    types = {f"t{i}": int(rng.integers(1, 20_000)) for i in range(int(rng.integers(1, 4)))}
    lines = ["task_types:"] + [
        f"  {n}: {{duration: {{model: fixed, mean_ms: {ms}}}}}" for n, ms in types.items()
    ]
    lines.append("tasks:")
    for name in types:
        count = int(rng.integers(1, 3_000))
        lines.append(
            f"  - {{name: {name}, task_type: {name}, run_at: '2026-12-01T08:00:00Z', "
            f"count: {count}}}"
        )
    capacity_ms, buffer = int(rng.integers(5_000, 30_000)), float(rng.choice([0.0, 0.1, 0.25]))
    scenario = Scenario(
        window_for(START, 0.5),
        "formula",
        capacity_ms,
        buffer,
        dispatch=IDEAL,
        target_s=capacity_ms * (1 - buffer) / 1_000,
    )
    result = simulate(parse_workload("\n".join(lines)), scenario)
    assert result.summary.start_delay_s.max <= capacity_ms * (1 - buffer) / 1_000
    assert result.summary.verdict == "pass"


def erlang_c_wait_s(servers: int, arrival_per_s: float, mean_service_s: float) -> float:
    """Mean wait in queue of an M/M/c queue (Erlang C)."""
    load = arrival_per_s * mean_service_s
    top = load**servers / math.factorial(servers) * servers / (servers - load)
    bottom = sum(load**k / math.factorial(k) for k in range(servers)) + top
    return top / bottom / (servers / mean_service_s - arrival_per_s)


def test_poisson_tasks_with_exponential_durations_match_erlang_c():
    workload = parse_workload(
        "task_types:\n  job: {duration: {model: exponential, mean_ms: 6000}}\n"
        "tasks:\n  - {name: jobs, task_type: job, rate_per_min: 30}\n"
    )
    scenario = Scenario(window_for(START, 200), "4", dispatch=IDEAL, seed=11)
    result = simulate(workload, scenario)
    expected = erlang_c_wait_s(4, 0.5, 6.0)  # 3.06 s; this seed gives 3.09 s
    assert result.summary.tasks == pytest.approx(360_000, rel=0.01)
    assert result.summary.start_delay_s.mean == pytest.approx(expected, rel=0.05)


def test_simpy_and_fast_agree_under_ties_lags_and_changing_targets():
    for seed in range(150):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 200))
        release = np.sort(rng.integers(0, 30, n)) * 10
        duration = rng.integers(0, 8, n) * 10
        times = np.unique(np.concatenate([[0], rng.integers(1, 30, int(rng.integers(1, 6))) * 10]))
        plan = CapacityPlan(times.astype(np.int64), rng.integers(1, 6, len(times)).astype(np.int64))
        lag, overhead = int(rng.integers(0, 4)) * 10, int(rng.integers(0, 2)) * 10
        fast = simulate_fast(release, duration, plan, single(lag, overhead), 300)
        reference = simulate_simpy(release, duration, plan, single(lag, overhead), 300)
        assert np.array_equal(fast.start_us, reference.start_us), seed
        for mine, theirs in [
            (fast.requested_us, reference.requested_us),
            (fast.live_us, reference.live_us),
            (fast.retired_us, reference.retired_us),
        ]:
            assert np.array_equal(np.sort(mine), np.sort(theirs)), seed


@pytest.mark.parametrize("instances", ["formula", "corrected", "25"])
def test_whole_runs_agree_between_engines(instances):
    workload = parse_workload(
        """
task_types:
  report: {duration: {model: fixed, mean_ms: 450}}
  sync: {duration: {model: lognormal, mean_ms: 3000, p95_ms: 9000}}
  ping: {duration: {model: exponential, mean_ms: 8000}}
tasks:
  - {name: reports, task_type: report, cron: "*/10 * * * *", count: 300}
  - {name: syncs, task_type: sync, cron: "* * * * *", count: 3}
  - {name: pings, task_type: ping, rate_per_min: 20}
"""
    )
    dispatch = Dispatch(scale_up_lag_us=20_000_000, concurrency=1)
    scenario = Scenario(window_for(START, 0.5), instances, dispatch=dispatch, seed=5)
    fast = simulate(workload, replace(scenario, engine=Engine.FAST))
    reference = simulate(workload, replace(scenario, engine=Engine.SIMPY))
    assert fast.summary == reference.summary
    assert fast.replications[0].series == reference.replications[0].series


def test_prefetch_makes_a_processor_hoard_work():
    release = np.zeros(4, dtype=np.int64)
    duration = np.array([10, 1, 1, 1], dtype=np.int64) * 1_000_000
    hoarding = simulate_simpy(release, duration, fixed_plan(2), single(prefetch=2))
    assert hoarding.start_us.tolist() == [0, 0, 10_000_000, 1_000_000]
    assert both(release, duration, fixed_plan(2)).tolist() == [0, 0, 1_000_000, 2_000_000]


def test_poll_interval_delays_only_immediate_tasks():
    # The distributor sleeps until the next row it knows is due: a one-off due at 0.3 s is
    # released then. Immediate tasks appear while it sleeps and wait for the next poll.
    workload = parse_workload(
        "task_types:\n  r: {duration: {model: fixed, mean_ms: 10}}\n"
        "tasks:\n  - {name: a, task_type: r, run_at: '2026-12-01T08:00:00.300Z'}\n"
        "  - {name: b, task_type: r, rate_per_min: 20}\n"
    )
    dispatch = Dispatch(poll_interval_us=1_000_000, overhead_us=5_000, concurrency=1)
    scenario = Scenario(window_for(START, 0.1), "3", dispatch=dispatch, seed=2)
    arrivals = expand(workload, scenario.window, np.random.default_rng(replication_seeds(2, 1)[0]))
    outcome = simulate_arrivals(arrivals, fixed_plan(3), scenario)
    delay_us = outcome.start_us - arrivals.scheduled_us
    assert arrivals.immediate is not None and arrivals.immediate.sum() == len(arrivals) - 1
    [one_off] = np.flatnonzero(~arrivals.immediate)
    assert delay_us[one_off] == 5_000
    polled = arrivals.immediate
    expected = -(-arrivals.scheduled_us[polled] // 1_000_000) * 1_000_000 + 5_000
    assert np.array_equal(outcome.start_us[polled], expected)  # 3 instances: nobody waits
    assert release_times(np.array([0, 1, 1_000_000]), 1_000_000).tolist() == [0, 1_000_000, 1_000_000]
    immediate = np.array([False, False, True])
    assert release_times(np.array([0, 1, 1_000_000]), 1_000_000, 0, immediate).tolist() == [
        0,
        1,
        1_000_000,
    ]


def test_tasks_are_queued_in_release_order_and_answered_in_due_order():
    # One instance, 1 s poll: an immediate task due at 0.2 s is released at 1 s, after a
    # one-off due at 0.5 s; the one-off runs first, and the results keep due order.
    workload = parse_workload(
        "task_types:\n  r: {duration: {model: fixed, mean_ms: 2000}}\n"
        "tasks:\n  - {name: a, task_type: r, run_at: '2026-12-01T08:00:00.500Z'}\n"
    )
    scenario = Scenario(
        window_for(START, 0.1), "1", dispatch=Dispatch(1_000_000, 1, 0, 0, concurrency=1)
    )
    arrivals = expand(workload, scenario.window, np.random.default_rng(0))
    arrivals = replace(
        arrivals,
        scheduled_us=np.array([200_000, 500_000]),
        type_ids=np.zeros(2, dtype=np.int32),
        duration_us=np.array([2_000_000, 2_000_000]),
        immediate=np.array([True, False]),
    )
    for engine in (Engine.FAST, Engine.SIMPY):
        outcome = simulate_arrivals(arrivals, fixed_plan(1), replace(scenario, engine=engine))
        assert outcome.start_us.tolist() == [2_500_000, 500_000]
