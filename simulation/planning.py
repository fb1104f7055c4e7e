"""Planning helpers on top of `simulation.run`: compare capacity rules on one workload, and
find the smallest fixed fleet that starts every task on time. For the notebooks; no I/O.

Example: on `examples/fleet.yaml` from 2026-12-01 08:00 UTC for 3 hours (seed 0),
`compare_rules(workload, scenario, ["formula", "corrected", "102"])` passes all three at
9,809, 14,756 and 18,425 instance-minutes, and `smallest_passing_fleet(workload, scenario,
102)` is 53 instances, a fleet that waits out the hourly burst of 1,000 reports within the
10 s target instead of sizing for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import altair as alt
import pandas as pd

from simulation.metrics import Summary
from simulation.run import Result, Scenario, simulate
from simulation.workload import Workload

EXAMPLE_WORKLOAD = Path(__file__).resolve().parent / "examples" / "fleet.yaml"
REQUIRED = "required (formula)"


def workload_frame(workload: Workload) -> pd.DataFrame:
    """One row per workload entry: its type's duration model and when the entry is due."""
    rows = []
    for task in workload.tasks:
        model = workload.types[task.task_type]
        if task.schedule is not None:
            due = f"cron {task.schedule.expression} ({task.schedule.timezone})"
        elif task.run_at is not None:
            due = f"once at {task.run_at.isoformat()}"
        else:
            due = f"{task.rate_per_min:g} a minute at random"
        rows.append(
            {
                "name": task.name,
                "task_type": task.task_type,
                "count": task.count,
                "due": due,
                "duration": model.kind.value,
                "mean_ms": model.mean_ms,
                "sd_ms": round(model.sd_ms, 1),
            }
        )
    return pd.DataFrame(rows)


def compare_rules(workload: Workload, scenario: Scenario, rules: Sequence[str]) -> dict[str, Result]:
    """The same workload and seeds under each rule (`formula`, `corrected` or a count)."""
    return {rule: simulate(workload, replace(scenario, instances=rule)) for rule in rules}


def summary_row(summary: Summary) -> dict[str, object]:
    """One flat row of a summary, delays as `delay_<stat>_s` columns."""
    delays = summary.start_delay_s
    return {
        "tasks": summary.tasks,
        "on_time_pct": summary.on_time_pct,
        "delay_mean_s": delays.mean,
        "delay_p50_s": delays.p50,
        "delay_p95_s": delays.p95,
        "delay_p99_s": delays.p99,
        "delay_max_s": delays.max,
        "instance_minutes": summary.instance_minutes,
        "peak_instances": summary.peak_instances,
        "verdict": summary.verdict,
    }


def summary_frame(results: Mapping[str, Result]) -> pd.DataFrame:
    """One row per rule, side by side, indexed by the rule."""
    frame = pd.DataFrame([summary_row(result.summary) for result in results.values()])
    frame.index = pd.Index(list(results), name="instances")
    return frame


def instances_frame(results: Mapping[str, Result]) -> pd.DataFrame:
    """Long form, one row per minute and line, for the first replication of each rule:
    the formula's required instances once (`REQUIRED`, the same for every rule) and each
    rule's provided instances (the mean serving in the minute), named `provided: <rule>`."""
    parts = []
    for number, (rule, result) in enumerate(results.items()):
        series = result.replications[0].series
        minute = pd.to_datetime(series["minute"], utc=True)
        if number == 0:
            parts.append(
                pd.DataFrame(
                    {"minute": minute, "line": REQUIRED, "instances": series["required_instances"]}
                )
            )
        parts.append(
            pd.DataFrame(
                {
                    "minute": minute,
                    "line": f"provided: {rule}",
                    "instances": series["provided_instances"],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def instances_chart(results: Mapping[str, Result], width: int = 820) -> alt.Chart:
    """Required (the formula) against provided instances per minute, one step line each."""
    return (
        alt.Chart(instances_frame(results))
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("minute:T", title="minute (UTC)", scale=alt.Scale(type="utc")),
            y=alt.Y("instances:Q", title="instances"),
            color=alt.Color("line:N", title=None),
            strokeDash=alt.condition(
                alt.datum.line == REQUIRED, alt.value([4, 3]), alt.value([1, 0])
            ),
            tooltip=["minute:T", "line:N", "instances:Q"],
        )
        .properties(title="Instances: required by the formula, provided by each rule", width=width)
    )


@dataclass(frozen=True, slots=True)
class FleetTrial:
    instances: int
    summary: Summary


def sweep_fixed(workload: Workload, scenario: Scenario, counts: Iterable[int]) -> list[FleetTrial]:
    """Simulate a fixed fleet of each size in `counts` (same seeds, so the same tasks)."""
    return [
        FleetTrial(count, simulate(workload, replace(scenario, instances=str(count))).summary)
        for count in counts
    ]


def sweep_frame(trials: Sequence[FleetTrial]) -> pd.DataFrame:
    frame = pd.DataFrame([summary_row(trial.summary) for trial in trials])
    frame.index = pd.Index([trial.instances for trial in trials], name="instances")
    return frame


def sweep_chart(trials: Sequence[FleetTrial], target_s: float, width: int = 820) -> alt.LayerChart:
    """Worst and p99 start delay against the fixed fleet size, with the target as a rule."""
    frame = sweep_frame(trials).reset_index()
    lines = (
        alt.Chart(frame)
        .transform_fold(["delay_max_s", "delay_p99_s"], as_=["statistic", "seconds"])
        .mark_line(point=True)
        .encode(
            x=alt.X("instances:Q", title="fixed instances", scale=alt.Scale(zero=False)),
            y=alt.Y("seconds:Q", title="start delay (s)"),
            color=alt.Color("statistic:N", title=None),
            tooltip=["instances:Q", "statistic:N", "seconds:Q", "verdict:N"],
        )
    )
    target = (
        alt.Chart(pd.DataFrame({"seconds": [target_s]}))
        .mark_rule(color="red", strokeDash=[4, 4])
        .encode(y="seconds:Q")
    )
    return (lines + target).properties(
        title=f"Start delay by fleet size (target {target_s:g} s)", width=width
    )


def smallest_passing_fleet(workload: Workload, scenario: Scenario, high: int) -> int | None:
    """The fewest fixed instances, at most `high`, that pass every replication; None when
    `high` fails too. Bisection, about log2(high) simulations.

    Exact because passing is monotone in the fleet size for `prefetch` 1: tasks start in
    release order on the instance that frees first, and with one more instance every
    instance-free time is no later, so no task starts later (the classic FIFO multi-server
    comparison). With a larger prefetch the broker's round-robin breaks that, so it is refused.
    """
    if scenario.dispatch.prefetch != 1:
        raise ValueError("smallest_passing_fleet needs prefetch 1 (where passing is monotone)")

    def passes(count: int) -> bool:
        result = simulate(workload, replace(scenario, instances=str(count)))
        return result.summary.verdict == "pass"

    if not passes(high):
        return None
    low = 0  # invariant: `low` fails (0 instances start nothing), `high` passes
    while high - low > 1:
        middle = (low + high) // 2
        if passes(middle):
            high = middle
        else:
            low = middle
    return high
