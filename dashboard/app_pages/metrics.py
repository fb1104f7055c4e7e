"""Metrics: execution time per task type (what the forecast uses, and over successes),
failure rate over time, run counts, and the latest runs."""

from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, ui

COUNT_WINDOWS = {
    "last hour": timedelta(hours=1),
    "last 24 hours": timedelta(days=1),
    "last 7 days": timedelta(days=7),
}
RECENT_LIMIT = 100
DAY = timedelta(days=1)

database_url = ui.require_database()
now = data.utc_now()

st.title("Metrics")
day_end = data.minute_instant(now)
st.caption(
    f"Counts, durations and failures as of {day_end:%H:%M} UTC (read once a minute); recent runs are live."
)

st.subheader("Execution time per task type")
st.caption(
    "**The forecast counts each run at `forecast uses ms`**: the average elapsed time over *all* "
    "attempts of the past year, failed ones included (the `average_elapsed_time_per_task_type` "
    "view), or the type's expected duration until it has history. Beside it, over the last 24 "
    "hours: the average over successes only and the p50/p95 of all attempts."
)
type_metrics = data.load_type_metrics(database_url)
# One read of the last 24 hours' attempts feeds the durations, the failure chart and the
# default run counts.
day = data.load_attempt_summary(database_url, day_end - DAY, day_end)
durations = {d.task_type: d for d in day.durations}


def _ms(value: int | None) -> str:
    return f"{value:,}" if value is not None else ""


metrics_frame = pd.DataFrame(
    {
        "task type": [m.task_type for m in type_metrics],
        "forecast uses ms": [m.planned_compute_ms for m in type_metrics],
        "avg ms, all attempts (year)": [_ms(m.avg_elapsed_ms) for m in type_metrics],
        "avg ms, successes (24 h)": [
            _ms(durations[m.task_type].avg_succeeded_ms) if m.task_type in durations else ""
            for m in type_metrics
        ],
        "p50 ms (24 h)": [
            _ms(durations[m.task_type].p50_ms) if m.task_type in durations else "" for m in type_metrics
        ],
        "p95 ms (24 h)": [
            _ms(durations[m.task_type].p95_ms) if m.task_type in durations else "" for m in type_metrics
        ],
        "runs (past year)": [m.run_count for m in type_metrics],
        "expected ms": [m.expected_duration_ms for m in type_metrics],
    }
)
st.dataframe(metrics_frame, hide_index=True)

st.subheader("Failure rate per type, last 24 hours")
failures = day.failures
if failures:
    failure_frame = pd.DataFrame(
        {
            "hour": pd.to_datetime([f.hour for f in failures], utc=True),
            "task type": [f.task_type for f in failures],
            "attempts": [f.attempts for f in failures],
            "failed": [f.failed for f in failures],
            "failure rate": [f.failure_rate for f in failures],
        }
    )
    st.altair_chart(
        alt.Chart(failure_frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("hour:T", title="hour (UTC)", axis=alt.Axis(format="%H:%M"), scale=alt.Scale(type="utc")),
            y=alt.Y("failure rate:Q", axis=alt.Axis(format="%"), title="attempts that failed"),
            color=alt.Color("task type:N", title="task type", legend=alt.Legend(orient="top")),
            tooltip=["task type:N", "attempts:Q", "failed:Q", alt.Tooltip("failure rate:Q", format=".1%")],
        )
        .properties(height=240),
        width="stretch",
    )
else:
    st.caption("No attempt finished in the last 24 hours.")

st.subheader("Run counts")
window = st.segmented_control("Window", list(COUNT_WINDOWS), default="last 24 hours", key="metrics.window")
span = COUNT_WINDOWS[window or "last 24 hours"]
since = day_end - span
if span == DAY:
    counts = sorted(day.run_counts.items(), key=lambda item: (item[0][0], item[0][1] or ""))
else:
    counts = [((c.task_type, c.outcome), c.run_count) for c in data.load_run_counts(database_url, since)]
if counts:
    counts_frame = pd.DataFrame(
        {
            "task type": [task_type for (task_type, _), _ in counts],
            "outcome": [outcome or "unfinished" for (_, outcome), _ in counts],
            "runs": [runs for _, runs in counts],
        }
    )
    pivot = counts_frame.pivot_table(
        index="task type", columns="outcome", values="runs", aggfunc="sum", fill_value=0
    )
    pivot["total"] = pivot.sum(axis=1)
    st.dataframe(pivot)
else:
    st.caption(f"No runs started since {ui.clock(since, now)}.")

st.subheader("Recent runs")
runs = data.load_recent_runs(database_url, RECENT_LIMIT)
if runs:
    st.dataframe(
        {
            "run": [r.id for r in runs],
            "task": [f"#{r.task_id} {r.task_name}" if r.task_id is not None else "" for r in runs],
            "type": [r.task_type for r in runs],
            "attempt": [r.attempt for r in runs],
            "started": [r.started_at for r in runs],
            "elapsed ms": [f"{r.elapsed_ms:,}" if r.elapsed_ms is not None else "" for r in runs],
            "outcome": [r.outcome or "running" for r in runs],
            "error": [r.error or "" for r in runs],
        },
        hide_index=True,
        column_config={"started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss z")},
    )
else:
    st.caption("No runs recorded yet; processors record each run as they finish it.")
