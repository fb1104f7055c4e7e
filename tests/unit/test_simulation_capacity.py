"""Capacity plans agree with the engine's own forecast; the progress bar stays off stdout."""

from datetime import UTC, datetime, timedelta

import numpy as np

from engine.core.forecast import forecast_minutes
from engine.core.types import ScheduledRun
from simulation.arrivals import expand, window_for
from simulation.capacity import (
    Limits,
    formula_targets,
    minute_work,
    planned_ms_by_type,
    step_plan,
)
from simulation.progress import _RichSink
from simulation.workload import parse_workload

WORKLOAD = parse_workload(
    """
task_types:
  report: {duration: {model: fixed, mean_ms: 450}}
  sync: {duration: {model: lognormal, mean_ms: 3000.4, p95_ms: 9000}}
  ping: {duration: {model: exponential, mean_ms: 7999.5}}
tasks:
  - {name: reports, task_type: report, cron: "*/7 * * * *", count: 130}
  - {name: syncs, task_type: sync, cron: "* * * * *", count: 4}
  - {name: pings, task_type: ping, rate_per_min: 9}
"""
)


def test_formula_targets_equal_the_engine_forecast():
    window = window_for(datetime(2026, 12, 1, 8, tzinfo=UTC), 1)
    arrivals = expand(WORKLOAD, window, np.random.default_rng(0))
    planned = planned_ms_by_type(WORKLOAD.types, arrivals.type_names)
    tasks, compute = minute_work(arrivals, planned, window.minutes)
    runs = [
        ScheduledRun(window.start + timedelta(microseconds=int(t)), arrivals.type_names[k])
        for t, k in zip(arrivals.scheduled_us, arrivals.type_ids, strict=True)
    ]
    by_type = dict(zip(arrivals.type_names, planned.tolist(), strict=True))
    expected = forecast_minutes(runs, by_type, window.start, hours=1)
    assert tasks.tolist() == [m.task_count for m in expected]
    assert compute.tolist() == [m.total_compute_ms for m in expected]
    assert formula_targets(compute, 10_000, 0.10) == [m.required_instances for m in expected]


def test_step_plan_clamps_and_holds_the_last_level_after_the_window():
    # Four window minutes, then one minute of carried work (as the corrected rule gives).
    plan = step_plan([0, 7, 7, 2, 9], 4, Limits(1, 6))
    assert plan.times_us.tolist() == [0, 60_000_000, 180_000_000, 240_000_000, 300_000_000]
    assert plan.targets.tolist() == [1, 6, 2, 6, 2]
    assert plan.tail == 2


def test_progress_writes_nothing_to_stdout(capsys):
    sink = _RichSink(min_tasks=10)
    sink.add_total(5)
    sink.add_total(20)
    sink.advance(25)
    sink.close()
    assert capsys.readouterr().out == ""
