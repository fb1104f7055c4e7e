"""Print where the engine's scaling formula misses the start target, and the corrected rule.

Each scenario is a small workload whose failure has one cause; the same scenarios, shorter,
are asserted in tests/unit/test_simulation_shortfalls.py. Run:
`python benchmarks/shortfalls.py` (about a minute; figures go to docs/simulation.md).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation.arrivals import window_for  # noqa: E402
from simulation.outcome import Dispatch  # noqa: E402
from simulation.run import Engine, Scenario, simulate  # noqa: E402
from simulation.workload import parse_workload  # noqa: E402

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

SCENARIOS: dict[str, tuple[str, dict]] = {
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
  - {name: daily, task_type: tick, cron: "0 0 * * *", count: 4000}
""",
        {"start_minute": 0},
    ),
}


def scenario_for(options: dict, instances: str, hours: float) -> Scenario:
    start = START.replace(minute=options.get("start_minute", 0))
    dispatch = Dispatch(
        prefetch=options.get("prefetch", 1), scale_up_lag_us=options.get("lag", 0)
    )
    return Scenario(window_for(start, hours), instances=instances, dispatch=dispatch)


def main() -> None:
    print(f"{'scenario':36} {'rule':9} {'on time %':>10} {'p99 s':>8} {'max s':>8} "
          f"{'inst-min':>9} {'peak':>5}  verdict")
    for name, (text, options) in SCENARIOS.items():
        workload = parse_workload(text, name)
        for instances in ("formula", "corrected"):
            scenario = scenario_for(options, instances, hours=3)
            if options.get("prefetch", 1) > 1:
                scenario = replace(scenario, engine=Engine.SIMPY)
            s = simulate(workload, scenario).summary
            d = s.start_delay_s
            print(f"{name:36} {instances:9} {s.on_time_pct:10.3f} {d.p99:8.2f} {d.max:8.2f} "
                  f"{s.instance_minutes:9.0f} {s.peak_instances:5d}  {s.verdict}")


if __name__ == "__main__":
    main()
