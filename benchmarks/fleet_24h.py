"""Replay 24 hours of a large fleet (over 10 million task runs) and time both engines.

Run from the repository root: `python benchmarks/fleet_24h.py [--simpy-minutes 30]`.
The fast path runs the whole day end to end (expansion, capacity plan, simulation, metrics);
SimPy runs the first minutes of the same day, is checked to give identical start times, and
its rate is extrapolated to the day, printed as an estimate.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation.arrivals import expand, window_for  # noqa: E402
from simulation.run import (  # noqa: E402
    Engine,
    Scenario,
    capacity_plan,
    replication_seeds,
    simulate,
    simulate_arrivals,
)
from simulation.scenarios import SINGLE_SLOT  # noqa: E402
from simulation.workload import parse_workload  # noqa: E402

FLEET = """
task_types:
  report: {duration: {model: fixed, mean_ms: 450}}
  sync:   {duration: {model: lognormal, mean_ms: 3000, p95_ms: 9000}}
  ping:   {duration: {model: exponential, mean_ms: 8000}}
  export: {duration: {model: lognormal, mean_ms: 60000, p95_ms: 150000}}
tasks:
  - {name: minutely-reports, task_type: report, cron: "* * * * *", count: 5000}
  - {name: five-minute-syncs, task_type: sync, cron: "*/5 * * * *", count: 6000}
  - {name: hourly-reports, task_type: report, cron: "0 * * * *", count: 20000}
  - {name: nightly-exports, task_type: export, cron: "30 2 * * *", timezone: Europe/Berlin,
     count: 2000}
  - {name: pings, task_type: ping, rate_per_min: 600}
"""
START = datetime(2026, 12, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--simpy-minutes", type=int, default=30)
    parser.add_argument("--instances", default="formula")
    options = parser.parse_args()
    workload = parse_workload(FLEET, "fleet_24h")
    day = Scenario(
        window_for(START, 24), instances=options.instances, dispatch=SINGLE_SLOT, seed=1
    )

    began = time.perf_counter()
    result = simulate(workload, day)
    whole = time.perf_counter() - began
    s = result.summary
    print(
        f"fast path, 24 h end to end: {s.tasks:,} task runs in {whole:.1f} s "
        f"({s.tasks / whole:,.0f} tasks/s overall)"
    )
    print(
        f"  verdict {s.verdict}, on time {s.on_time_pct:.4f} %, p99 {s.start_delay_s.p99:.2f} s, "
        f"max {s.start_delay_s.max:.2f} s, peak {s.peak_instances} instances, "
        f"{s.instance_minutes:,.0f} instance-minutes"
    )

    seed = replication_seeds(day.seed, 1)[0]
    arrivals = expand(workload, day.window, np.random.default_rng(seed))
    plan, _ = capacity_plan(workload, arrivals, day)
    began = time.perf_counter()
    simulate_arrivals(arrivals, plan, replace(day, engine=Engine.FAST))
    core = time.perf_counter() - began
    print(
        f"fast path, simulation step only: {len(arrivals):,} tasks in {core:.1f} s "
        f"({len(arrivals) / core:,.0f} tasks/s)"
    )

    # The same fleet over its first minutes, run by both engines from identical inputs.
    head = replace(day, window=window_for(START, options.simpy_minutes / 60))
    part = expand(workload, head.window, np.random.default_rng(seed))
    head_plan, _ = capacity_plan(workload, part, head)
    began = time.perf_counter()
    reference = simulate_arrivals(part, head_plan, replace(head, engine=Engine.SIMPY))
    slow = time.perf_counter() - began
    quick = simulate_arrivals(part, head_plan, replace(head, engine=Engine.FAST))
    rate = len(part) / slow
    same = np.array_equal(reference.start_us, quick.start_us)
    print(
        f"SimPy, first {options.simpy_minutes} min of the day: {len(part):,} tasks in {slow:.1f} s "
        f"({rate:,.0f} tasks/s); start times identical to the fast path: {same}"
    )
    if len(part) < len(arrivals):
        print(
            f"SimPy, 24 h extrapolated at that rate (not run): about "
            f"{len(arrivals) / rate:,.0f} s for {len(arrivals):,} tasks"
        )


if __name__ == "__main__":
    main()
