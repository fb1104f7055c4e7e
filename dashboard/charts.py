"""Altair charts of forecasts, for the Capacity page and the notebooks (no Streamlit here).

Times are drawn in UTC whatever the viewer's browser zone, as every Headway command prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import altair as alt
import pandas as pd

from engine.core.forecast import ForecastMinute
from engine.core.on_time import LagMinute
from engine.core.scale_points import ScalePlan

UTC_AXIS = alt.Axis(format="%H:%M", title="minute (UTC)", labelOverlap=True)
REQUIRED = "required"
FLEET = "planned fleet"
RUNNING = "worker slots now"
CAPACITY_LINES = (REQUIRED, FLEET, RUNNING)


def _minute_axis() -> alt.X:
    return alt.X("minute:T", axis=UTC_AXIS, scale=alt.Scale(type="utc"))


def forecast_frame(series: Sequence[ForecastMinute], plan: ScalePlan | None = None) -> pd.DataFrame:
    """One row per minute: minute, `utc` label, task_count, total_compute_ms, required and,
    with a plan, the planned fleet."""
    frame = pd.DataFrame(
        {
            "minute": pd.to_datetime([m.minute for m in series], utc=True),
            "utc": [f"{m.minute:%Y-%m-%d %H:%M}" for m in series],
            "task_count": [m.task_count for m in series],
            "total_compute_ms": [m.total_compute_ms for m in series],
            REQUIRED: [m.required_instances for m in series],
        }
    )
    if plan is not None:
        frame[FLEET] = list(plan.fleet)
    return frame


def capacity_chart(
    series: Sequence[ForecastMinute],
    plan: ScalePlan,
    width: int | Literal["container"] = "container",
    height: int = 320,
) -> alt.LayerChart:
    """Required instances per minute (a step line), the fleet the plan would run (dashed),
    the worker slots running now (red) and the first shortfall (a marked point), with a
    legend naming the three lines. An instance of the formula runs one task at a time: one
    worker slot."""
    frame = forecast_frame(series, plan)
    frame[RUNNING] = plan.current_instances
    long = frame.melt(
        id_vars=["minute", "utc", "task_count", "total_compute_ms"],
        value_vars=list(CAPACITY_LINES),
        var_name="line",
        value_name="instances",
    )
    tooltip = [
        alt.Tooltip("utc:N", title="minute (UTC)"),
        alt.Tooltip("line:N", title="line"),
        alt.Tooltip("instances:Q"),
        alt.Tooltip("task_count:Q", title="tasks"),
        alt.Tooltip("total_compute_ms:Q", title="compute ms", format=","),
    ]
    lines = (
        alt.Chart(long)
        .mark_line(interpolate="step-after")
        .encode(
            x=_minute_axis(),
            y=alt.Y("instances:Q", title="instances"),
            color=alt.Color(
                "line:N",
                title="instances",
                sort=list(CAPACITY_LINES),
                scale=alt.Scale(domain=list(CAPACITY_LINES), range=["#1f77b4", "#9467bd", "#d62728"]),
                legend=alt.Legend(orient="top", labelLimit=300),
            ),
            strokeDash=alt.StrokeDash(
                "line:N",
                scale=alt.Scale(domain=list(CAPACITY_LINES), range=[[1, 0], [5, 3], [2, 2]]),
                legend=None,
            ),
            tooltip=tooltip,
        )
    )
    layers: list[alt.Chart] = [lines]
    if plan.first_shortfall is not None:
        first = plan.first_shortfall
        marker = pd.DataFrame(
            {
                "minute": pd.to_datetime([first.minute], utc=True),
                "instances": [first.required_instances],
                "label": [f"scale up by {first.minute:%H:%M}"],
            }
        )
        base = alt.Chart(marker).encode(x=_minute_axis(), y="instances:Q")
        layers += [
            base.mark_point(color="#d62728", size=90, filled=True),
            base.mark_text(align="left", dx=8, dy=-8, color="#d62728").encode(text="label:N"),
        ]
    return alt.LayerChart(layer=layers, height=height, width=width)


def compare_chart(
    series_by_label: Mapping[str, Sequence[ForecastMinute]],
    width: int | Literal["container"] = "container",
    height: int = 280,
) -> alt.Chart:
    """Required instances per minute for several parameter choices, one line each."""
    frames = [
        forecast_frame(series).assign(choice=label)[["minute", "utc", REQUIRED, "choice"]]
        for label, series in series_by_label.items()
    ]
    return (
        alt.Chart(pd.concat(frames, ignore_index=True))
        .mark_line(interpolate="step-after")
        .encode(
            x=_minute_axis(),
            y=alt.Y(f"{REQUIRED}:Q", title="required instances"),
            color=alt.Color("choice:N", title="parameters"),
            tooltip=["utc:N", "choice:N", f"{REQUIRED}:Q"],
        )
        .properties(height=height, width=width)
    )


LAG_LINES = ("p50", "p95", "p99", "max")


def start_lag_chart(
    minutes: Sequence[LagMinute],
    target_ms: int,
    width: int | Literal["container"] = "container",
    height: int = 300,
) -> alt.LayerChart:
    """Start lag per scheduled minute, p50/p95/p99/max in seconds (a symmetric log scale, so
    that 0.2 s and 3 min both read), against the target as a red rule."""
    frame = pd.DataFrame(
        {
            "minute": pd.to_datetime([m.minute for m in minutes], utc=True),
            "utc": [f"{m.minute:%Y-%m-%d %H:%M}" for m in minutes],
            "started": [m.started for m in minutes],
            "p50": [m.p50_ms / 1000 for m in minutes],
            "p95": [m.p95_ms / 1000 for m in minutes],
            "p99": [m.p99_ms / 1000 for m in minutes],
            "max": [m.max_ms / 1000 for m in minutes],
        }
    )
    long = frame.melt(
        id_vars=["minute", "utc", "started"], value_vars=list(LAG_LINES), var_name="lag", value_name="s"
    )
    lines = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=_minute_axis(),
            y=alt.Y("s:Q", title="start lag (s)", scale=alt.Scale(type="symlog")),
            color=alt.Color(
                "lag:N",
                title="start lag",
                sort=list(LAG_LINES),
                scale=alt.Scale(domain=list(LAG_LINES), range=["#1f77b4", "#ff7f0e", "#9467bd", "#7f7f7f"]),
            ),
            tooltip=[
                alt.Tooltip("utc:N", title="scheduled minute (UTC)"),
                alt.Tooltip("lag:N"),
                alt.Tooltip("s:Q", title="seconds", format=".2f"),
                alt.Tooltip("started:Q", title="runs started"),
            ],
        )
    )
    target = alt.Chart(
        pd.DataFrame({"target (s)": [target_ms / 1000], "label": [f"target {target_ms / 1000:g} s"]})
    )
    rule = target.mark_rule(color="#d62728", strokeDash=[6, 3], strokeWidth=2).encode(y="target (s):Q")
    label = target.mark_text(align="left", dx=4, dy=-6, color="#d62728").encode(
        y="target (s):Q", x=alt.value(0), text="label:N"
    )
    return alt.LayerChart(layer=[lines, rule, label], height=height, width=width)
