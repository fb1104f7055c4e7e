"""Processors with several slots, retries with the engine's backoff, timeouts: known answers."""

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from simulation.arrivals import expand, window_for
from simulation.attempts import AttemptModel, backoff_us, draw_attempts
from simulation.capacity import CapacityPlan, fixed_plan
from simulation.durations import duration_model
from simulation.fast import simulate_fast
from simulation.model_simpy import simulate_simpy
from simulation.outcome import Dispatch
from simulation.run import Engine, Scenario, simulate
from simulation.workload import parse_workload

START = datetime(2026, 12, 1, 8, tzinfo=UTC)
S = 1_000_000


def dispatch(concurrency=1, prefetch=1, overhead=0, base_ms=1_000):
    return Dispatch(
        poll_interval_us=0,
        prefetch=prefetch,
        overhead_us=overhead,
        concurrency=concurrency,
        retry_base_ms=base_ms,
    )


def both(release, duration, plan, used, extra=None):
    fast = simulate_fast(release, duration, plan, used, extra_us=extra)
    reference = simulate_simpy(release, duration, plan, used, extra_us=extra)
    assert np.array_equal(fast.start_us, reference.start_us)
    assert fast.last_finish_us == reference.last_finish_us
    return fast


@pytest.mark.parametrize(("processors", "concurrency"), [(2, 3), (1, 4), (3, 1)])
def test_processors_with_slots_are_processors_times_slots_servers(processors, concurrency):
    tasks, duration_us, overhead_us = 13, 2 * S, 5_000
    release = np.zeros(tasks, dtype=np.int64)
    duration = np.full(tasks, duration_us, dtype=np.int64)
    used = dispatch(concurrency, overhead=overhead_us)
    starts = both(release, duration, fixed_plan(processors), used).start_us
    slots = processors * concurrency
    expected = [(k // slots) * (duration_us + overhead_us) + overhead_us for k in range(tasks)]
    assert starts.tolist() == expected


def test_a_processor_over_the_target_drains_as_a_whole():
    # Two processors of 2 slots, eight 10 s tasks at 0; at 5 s the plan wants one processor.
    # All four slots are busy then, so one retirement is owed; at 10 s the first processor
    # to finish a task drains (takes no more) and retires when its other task ends, and the
    # other processor runs the rest two at a time.
    release = np.zeros(8, dtype=np.int64)
    duration = np.full(8, 10 * S, dtype=np.int64)
    plan = CapacityPlan(np.array([0, 5 * S]), np.array([2, 1]))
    outcome = simulate_simpy(release, duration, plan, dispatch(concurrency=2))
    assert outcome.start_us.tolist() == [0, 0, 0, 0, 10 * S, 10 * S, 20 * S, 20 * S]
    assert outcome.retired_us.tolist() == [10 * S]


def test_prefetch_is_per_slot_and_hoards_behind_a_long_task():
    # One processor, 1 slot, prefetch 2, and another alike: round-robin deals 0, 2 to the
    # first (10 s, 1 s) and 1, 3 to the second: task 2 waits for task 0.
    release = np.zeros(4, dtype=np.int64)
    duration = np.array([10, 1, 1, 1]) * S
    hoarding = simulate_simpy(release, duration, fixed_plan(2), dispatch(prefetch=2))
    assert hoarding.start_us.tolist() == [0, 0, 10 * S, 1 * S]


def test_a_failing_task_is_retried_after_the_engines_backoff():
    # 2 s attempts that always fail, 3 attempts, backoff 1 s then 2 s: starts 0, 3 and 7 s.
    release = np.zeros(1, dtype=np.int64)
    duration = np.array([2 * S])
    outcome = both(release, duration, fixed_plan(1), dispatch(), {0: (2 * S, 2 * S)})
    assert outcome.start_us.tolist() == [0]
    assert outcome.last_finish_us == 9 * S
    assert [backoff_us(a, 1_000, 300_000) for a in (1, 2)] == [1 * S, 2 * S]


def test_retries_join_the_back_of_the_queue():
    # One slot, two tasks at 0, each attempt cut at a 2 s timeout, two attempts each:
    # t0 runs 0-2, t1 2-4, t0 again (released at 3) 4-6, t1 again (released at 5) 6-8.
    workload = parse_workload(
        "task_types:\n  slow: {duration: {model: fixed, mean_ms: 5000}, timeout_ms: 2000,"
        " max_attempts: 2}\ntasks:\n  - {name: a, task_type: slow, run_at: '2026-12-01T08:00:00Z',"
        " count: 2}\n"
    )
    arrivals = expand(workload, window_for(START, 1), np.random.default_rng(0))
    assert arrivals.duration_us.tolist() == [2 * S, 2 * S]
    assert dict(arrivals.retries.extra_us) == {0: (2 * S,), 1: (2 * S,)}
    assert arrivals.retries.failed == 2
    outcome = both(
        np.zeros(2, dtype=np.int64),
        arrivals.duration_us,
        fixed_plan(1),
        dispatch(),
        arrivals.retries.extra_us,
    )
    assert outcome.start_us.tolist() == [0, 2 * S]
    assert outcome.last_finish_us == 8 * S


def test_failure_draws_match_the_probability():
    rng = np.random.default_rng(3)
    model = AttemptModel(failure_probability=0.2, max_attempts=3)
    fixed = duration_model("fixed", mean_ms=100)
    n = 100_000
    first, extra, failed = draw_attempts(rng, fixed, model, fixed.sample_us(rng, n))
    later = sum(len(runs) for runs in extra)
    # Expected later attempts per task: 0.2 + 0.2^2 = 0.24; all three fail: 0.2^3 = 0.008.
    assert later / n == pytest.approx(0.24, rel=0.03)
    assert failed.mean() == pytest.approx(0.008, rel=0.15)
    assert first.tolist() == [100_000] * n


def test_a_type_that_cannot_fail_draws_what_it_drew_before():
    text = (
        "task_types:\n  p: {duration: {model: exponential, mean_ms: 800}%s}\n"
        "tasks:\n  - {name: a, task_type: p, rate_per_min: 30}\n"
    )
    plain = expand(parse_workload(text % ""), window_for(START, 1), np.random.default_rng(4))
    explicit = expand(
        parse_workload(text % ", max_attempts: 5, failure_probability: 0"),
        window_for(START, 1),
        np.random.default_rng(4),
    )
    assert np.array_equal(plain.duration_us, explicit.duration_us)
    assert not explicit.retries.extra_us


def test_engines_agree_on_random_runs_with_retries():
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(1, 120))
        release = np.sort(rng.integers(0, 30 * S, n))
        duration = rng.integers(1, 4 * S, n)
        extra = {
            int(task): tuple(int(v) for v in rng.integers(1, 4 * S, int(rng.integers(1, 3))))
            for task in rng.choice(n, int(rng.integers(0, n)), replace=False)
        }
        times = np.unique(np.concatenate([[0], rng.integers(1, 30, 3) * S]))
        plan = CapacityPlan(times, rng.integers(1, 5, len(times)))
        used = dispatch(overhead=int(rng.integers(0, 3)) * 1_000, base_ms=int(rng.integers(1, 900)))
        fast = simulate_fast(release, duration, plan, used, 0, extra_us=extra)
        reference = simulate_simpy(release, duration, plan, used, 0, extra_us=extra)
        assert np.array_equal(fast.start_us, reference.start_us), seed
        assert fast.last_finish_us == reference.last_finish_us, seed


def test_whole_runs_with_slots_and_retries_agree_on_a_fixed_fleet():
    workload = parse_workload(
        """
task_types:
  sync: {duration: {model: lognormal, mean_ms: 3000, p95_ms: 9000}, failure_probability: 0.1,
         timeout_ms: 8000}
tasks:
  - {name: syncs, task_type: sync, cron: "* * * * *", count: 40}
"""
    )
    scenario = Scenario(window_for(START, 0.5), "3", dispatch=Dispatch(concurrency=4), seed=2)
    fast = simulate(workload, replace(scenario, engine=Engine.FAST))
    reference = simulate(workload, replace(scenario, engine=Engine.SIMPY))
    assert fast.engine is Engine.FAST and reference.engine is Engine.SIMPY
    assert fast.summary == reference.summary
