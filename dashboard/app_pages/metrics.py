"""Metrics: average execution time per task type, run counts, and the latest runs."""

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

database_url = ui.require_database()
now = data.utc_now()

st.title("Metrics")

st.subheader("Execution time per task type")
st.caption(
    "Average elapsed time over the past year (the `average_elapsed_time_per_task_type` view). "
    "The forecast counts each run at this average, or at the type's expected duration until it has history."
)
type_metrics = data.load_type_metrics(database_url)
metrics_frame = pd.DataFrame(
    {
        "task type": [m.task_type for m in type_metrics],
        "average ms": [m.avg_elapsed_ms for m in type_metrics],
        "runs (past year)": [m.run_count for m in type_metrics],
        "expected ms": [m.expected_duration_ms for m in type_metrics],
        "forecast uses ms": [m.planned_compute_ms for m in type_metrics],
    }
)
table_column, chart_column = st.columns([3, 2])
table_column.dataframe(metrics_frame, hide_index=True)
chart_column.altair_chart(
    alt.Chart(metrics_frame)
    .mark_bar()
    .encode(
        x=alt.X("forecast uses ms:Q", title="ms per run"),
        y=alt.Y("task type:N", sort="-x"),
        tooltip=list(metrics_frame.columns),
    )
    .properties(height=max(120, 40 * len(metrics_frame))),
    width="stretch",
)

st.subheader("Run counts")
window = st.segmented_control("Window", list(COUNT_WINDOWS), default="last 24 hours", key="metrics.window")
since = now - COUNT_WINDOWS[window or "last 24 hours"]
counts = data.load_run_counts(database_url, data.live_instant(since))
if counts:
    counts_frame = pd.DataFrame(
        {
            "task type": [c.task_type for c in counts],
            "outcome": [c.outcome or "unfinished" for c in counts],
            "runs": [c.run_count for c in counts],
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
            "elapsed ms": [r.elapsed_ms for r in runs],
            "outcome": [r.outcome or "running" for r in runs],
            "error": [r.error or "" for r in runs],
        },
        hide_index=True,
        column_config={"started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss z")},
    )
else:
    st.caption("No runs recorded yet; processors record each run as they finish it.")
