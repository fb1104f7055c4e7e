"""Workloads that each show one way the engine's scaling formula misses the start target.

Printed by `benchmarks/shortfalls.py` (figures in docs/simulation.md) and asserted, on
shorter windows, by tests/unit/test_simulation_shortfalls.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from simulation.arrivals import window_for
from simulation.outcome import Dispatch
from simulation.run import Engine, Scenario

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
# The shortfalls are shown on instances that run one task at a time, behind a distributor
# polling every second: the model their figures (docs/simulation.md) were measured with, and
# the clearest view of the formula, whose instance does `capacity_ms` of work a minute.
SINGLE_SLOT = Dispatch(poll_interval_us=1_000_000, concurrency=1)

SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "long tasks carried across minutes": (
        """
task_types:
  report: {duration: {model: fixed, mean_ms: 900}}
  export: {duration: {model: fixed, mean_ms: 240000}}
tasks:
  - {name: reports, task_type: report, cron: "* * * * *", count: 100}
  - {name: exports, task_type: export, cron: "0 * * * *", count: 30}
""",
        {},
    ),
    "heavy-tailed durations": (
        """
task_types:
  sync: {duration: {model: lognormal, mean_ms: 2000, p95_ms: 7000}}
tasks:
  - {name: syncs, task_type: sync, cron: "* * * * *", count: 20}
""",
        {},
    ),
    "scale-up lag (30 s)": (
        """
task_types:
  report: {duration: {model: fixed, mean_ms: 450}}
tasks:
  - {name: hourly-reports, task_type: report, cron: "0 * * * *", count: 1000}
  - {name: heartbeat, task_type: report, cron: "* * * * *", count: 2}
""",
        {"lag": 30_000_000, "start_minute": 55},
    ),
    "prefetch hoarding (prefetch 10)": (
        """
task_types:
  sync: {duration: {model: lognormal, mean_ms: 2000, p95_ms: 5000}}
tasks:
  - {name: syncs, task_type: sync, cron: "* * * * *", count: 200}
""",
        {"prefetch": 10},
    ),
    ":00 pile-up of short tasks": (
        """
task_types:
  tick: {duration: {model: fixed, mean_ms: 20}}
tasks:
  - {name: hourly, task_type: tick, cron: "0 * * * *", count: 12000}
  - {name: five-minutely, task_type: tick, cron: "*/5 * * * *", count: 4000}
""",
        {"start_minute": 0},
    ),
}


def scenario_for(options: dict[str, Any], instances: str, hours: float) -> Scenario:
    """The scenario's defaults with `options` (start minute, scale-up lag, prefetch) applied."""
    start = START.replace(minute=options.get("start_minute", 0))
    dispatch = replace(
        SINGLE_SLOT, prefetch=options.get("prefetch", 1), scale_up_lag_us=options.get("lag", 0)
    )
    engine = Engine.SIMPY if dispatch.prefetch > 1 else Engine.AUTO
    return Scenario(window_for(start, hours), instances=instances, dispatch=dispatch, engine=engine)
