"""Outputs: the readable summary, the per-minute CSV and the HTML report with altair charts."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from simulation.run import Result, Scenario


def format_summary(result: Result, scenario: Scenario) -> str:
    s = result.summary
    d = s.start_delay_s
    window = scenario.window
    dispatch = scenario.dispatch
    runs = len(result.replications)
    lines = [
        f"Window      {window.start:%Y-%m-%d %H:%M} UTC + {window.minutes} min"
        f"   instances: {scenario.instances}   engine: {result.engine.value}"
        f"   replications: {runs}",
        f"Dispatch    poll {dispatch.poll_interval_us / 1e6:g} s, concurrency "
        f"{dispatch.concurrency}, prefetch {dispatch.prefetch}, "
        f"overhead {dispatch.overhead_us / 1e3:g} ms, release delay "
        f"{dispatch.release_delay_us / 1e3:g} ms, scale-up lag "
        f"{dispatch.scale_up_lag_us / 1e6:g} s",
        f"Tasks       {s.tasks:,}" + (f" ({runs} replications pooled)" if runs > 1 else ""),
        f"On time     {s.on_time_pct:.3f} % within {s.target_s:g} s",
        f"Start delay mean {d.mean:.3f} s   p50 {d.p50:.3f}   p95 {d.p95:.3f}   "
        f"p99 {d.p99:.3f}   max {d.max:.3f}",
        f"Instances   peak {s.peak_instances:,}   {s.instance_minutes:,.1f} instance-minutes"
        + (" (mean per replication)" if runs > 1 else ""),
        f"Verdict     {s.verdict.upper()}",
    ]
    if any(s.skipped.values()):
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in s.skipped.items())
        lines.insert(
            -1,
            f"Skipped     {sum(s.skipped.values()):,} fire times ({reasons}): not run, no compute"
            + (" (pooled)" if runs > 1 else ""),
        )
    return "\n".join(lines)


def write_csv(path: Path, result: Result) -> None:
    """Per-minute rows of every replication, `replication` numbered from 1."""
    columns = list(result.replications[0].series)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["replication", *columns])
        for number, replication in enumerate(result.replications, start=1):
            series = replication.series
            for row in zip(*(series[column] for column in columns), strict=True):
                writer.writerow([number, *row])


def _charts(series: dict[str, list], target_s: float) -> Any:
    import altair as alt
    import pandas as pd

    frame = pd.DataFrame(series)
    frame["minute"] = pd.to_datetime(frame["minute"])
    instances = (
        alt.Chart(frame)
        .transform_fold(
            ["required_instances", "target_instances", "provided_instances"],
            as_=["series", "instances"],
        )
        .mark_line(interpolate="step-after")
        .encode(x=alt.X("minute:T", title="minute (UTC)"), y="instances:Q", color="series:N")
        .properties(
            title="Instances: formula required, rule target, provided", width=900, height=250
        )
    )
    delays = (
        alt.Chart(frame)
        .transform_fold(
            ["delay_mean_s", "delay_p95_s", "delay_max_s"], as_=["statistic", "seconds"]
        )
        .mark_line()
        .encode(x=alt.X("minute:T", title="minute (UTC)"), y="seconds:Q", color="statistic:N")
        .properties(
            title=f"Start delay by due minute (target {target_s:g} s)", width=900, height=250
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"seconds": [target_s]}))
        .mark_rule(strokeDash=[4, 4])
        .encode(y="seconds:Q")
    )
    tasks = (
        alt.Chart(frame)
        .mark_bar()
        .encode(x=alt.X("minute:T", title="minute (UTC)"), y=alt.Y("tasks:Q", title="tasks due"))
        .properties(title="Tasks due per minute", width=900, height=150)
    )
    return alt.vconcat(instances, delays + rule, tasks).resolve_scale(color="independent")


def write_html(path: Path, result: Result, scenario: Scenario) -> None:
    """Charts of the first replication, over time, with the summary as the page title."""
    chart = _charts(result.replications[0].series, scenario.target_s)
    s = result.summary
    title = (
        f"headway simulate: {s.verdict.upper()}, {s.on_time_pct:.3f} % on time, "
        f"p99 {s.start_delay_s.p99:.2f} s, max {s.start_delay_s.max:.2f} s, "
        f"peak {s.peak_instances} instances ({scenario.instances})"
    )
    # Inline the Vega libraries (through vl-convert) so the report opens without a network.
    chart.properties(title=title).save(str(path), format="html", inline=True)
