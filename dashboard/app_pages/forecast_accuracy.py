"""Forecast accuracy: what the forecast said 180, 60 and 10 minutes ahead against what ran.

Its read is cached here (not in `dashboard.data`) so that the page stays one file."""

from datetime import datetime

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, ui
from engine.services.forecast_accuracy import AccuracyReport, accuracy_report


@st.cache_data(ttl=data.LIVE_TTL_S, show_spinner=False)
def load_report(
    database_url: str, now: datetime, hours: float, capacity_ms: int, buffer: float
) -> AccuracyReport:
    return accuracy_report(data.get_engine(database_url), now, hours, capacity_ms, buffer)


database_url = ui.require_database()
defaults = data.settings()
now = data.live_instant(data.utc_now())

st.title("Forecast accuracy")
hours = st.number_input("Hours back", min_value=1.0, max_value=744.0, value=24.0, step=1.0)
report = load_report(database_url, now, float(hours), defaults.capacity_ms, defaults.buffer)
st.caption(
    f"Minutes {report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC. The Scheduler "
    "records each minute's forecast 180, 60 and 10 minutes before it; a minute is compared "
    "once it ended two minutes ago. Errors are forecast minus actual."
)
if not report.leads:
    st.info("No forecast snapshots in this window yet: they are taken while `headway scheduler` runs.")
    st.stop()

st.subheader("Per lead time")
st.dataframe(
    pd.DataFrame(
        [
            {
                "lead (min)": lead.lead_minutes,
                "minutes": lead.minutes,
                "task MAE": round(lead.task_mae, 2),
                "compute MAE (ms)": round(lead.compute_mae_ms),
                "compute bias (ms)": round(lead.compute_bias_ms),
                "compute error %": round(lead.compute_error_pct, 1),
                "instance MAE": round(lead.instance_mae, 2),
                "under-forecast minutes": lead.under_forecast_minutes,
            }
            for lead in report.leads
        ]
    ),
    hide_index=True,
)

st.subheader("Instances forecast against needed, per minute")
frame = pd.DataFrame(
    [
        {"minute": row.minute, "lead": f"{row.lead_minutes} min ahead", "instances": row.forecast_instances}
        for row in report.minutes
    ]
    + [
        {"minute": row.minute, "lead": "needed (what ran)", "instances": row.needed_instances}
        for row in report.minutes
        if row.lead_minutes == report.leads[-1].lead_minutes
    ]
)
st.altair_chart(
    alt.Chart(frame)
    .mark_line(interpolate="step-after")
    .encode(x=alt.X("minute:T", title="minute (UTC)"), y="instances:Q", color="lead:N"),
    use_container_width=True,
)

st.subheader("Which task types drove the misses")
st.dataframe(
    pd.DataFrame(
        [
            {
                "lead (min)": row.lead_minutes,
                "task type": row.task_type,
                "forecast tasks": row.forecast.tasks,
                "ran": row.actual.tasks,
                "forecast compute (ms)": row.forecast.compute_ms,
                "used compute (ms)": row.actual.compute_ms,
                "sum |error| (ms)": row.compute_abs_error_ms,
            }
            for row in report.types
        ]
    ),
    hide_index=True,
)
