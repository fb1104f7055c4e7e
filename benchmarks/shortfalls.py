"""Print where the engine's scaling formula misses the start target, and the corrected rule.

Run from the repository root: `python benchmarks/shortfalls.py` (a few seconds).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulation.run import simulate  # noqa: E402
from simulation.scenarios import SCENARIOS, scenario_for  # noqa: E402
from simulation.workload import parse_workload  # noqa: E402

ROWS = [(name, rule, None) for name in SCENARIOS for rule in ("formula", "corrected")]
ROWS.append(("prefetch hoarding (prefetch 10)", "formula", 1))


def main(hours: float = 3) -> None:
    print(
        f"{'scenario':36} {'rule':9} {'prefetch':>8} {'on time %':>10} {'p99 s':>8} "
        f"{'max s':>8} {'inst-min':>9} {'peak':>5}  verdict"
    )
    for name, rule, prefetch in ROWS:
        text, options = SCENARIOS[name]
        if prefetch is not None:
            options = {**options, "prefetch": prefetch}
        scenario = scenario_for(options, rule, hours)
        s = simulate(parse_workload(text, name), scenario).summary
        d = s.start_delay_s
        print(
            f"{name:36} {rule:9} {scenario.dispatch.prefetch:8d} {s.on_time_pct:10.3f} "
            f"{d.p99:8.2f} {d.max:8.2f} {s.instance_minutes:9.0f} {s.peak_instances:5d}  "
            f"{s.verdict}"
        )


if __name__ == "__main__":
    main()
