"""On time: do runs start within the target (10 s) of their scheduled time? Start lag per
minute, the share on time, and the runs due now that nothing has started."""

from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui
from engine.services.on_time import OnTimeReport

WINDOWS_H = {"last hour": 1.0, "last 3 hours": 3.0, "last 12 hours": 12.0, "last 24 hours": 24.0}
REFRESH_S = 15

database_url = ui.require_database()

st.title("On time")
window = st.segmented_control("Window", list(WINDOWS_H), default="last 3 hours", key="on_time.window")
hours = WINDOWS_H[window or "last 3 hours"]


def verdict_banner(report: OnTimeReport) -> None:
    verdict = report.verdict
    target_s = f"{report.target_ms / 1000:g} s"
    if verdict.broken:
        st.error(
            f"**Late now: runs are not starting within {target_s}.** " + "; ".join(verdict.reasons) + ".",
            icon=":material/alarm:",
        )
    else:
        st.success(
            f"On time: every run due now has started within {target_s}.", icon=":material/check_circle:"
        )


def headline(report: OnTimeReport, now: datetime) -> None:
    verdict = report.verdict
    share, late, oldest, started = st.columns(4)
    share.metric(
        "Started on time",
        f"{verdict.on_time_share:.1%}" if verdict.on_time_share is not None else "no runs",
        help=f"Runs scheduled in the window that started within {report.target_ms / 1000:g} s, "
        "among those that started.",
    )
    late.metric(
        "Late and waiting now", verdict.late_waiting, help="Due more than the target ago, not started"
    )
    oldest.metric(
        "Oldest waiting",
        ui.duration(verdict.oldest_waiting_s) if verdict.oldest_waiting_s is not None else "none",
        help="Age of the oldest run that is due and not started (Scheduled or Queued)",
    )
    started.metric(
        "Runs started", f"{verdict.started:,}", help=f"Scheduled since {ui.clock(report.window_start, now)}"
    )


def waiting_table(report: OnTimeReport, now: datetime) -> None:
    st.subheader("Due and not started, by type")
    if not report.waiting:
        st.caption("No run is due and waiting.")
        return
    st.dataframe(
        pd.DataFrame(
            {
                "task type": [w.task_type for w in report.waiting],
                "due, not started": [w.due for w in report.waiting],
                f"late (> {report.target_ms / 1000:g} s)": [w.late for w in report.waiting],
                "oldest due": [ui.clock(w.oldest, now) for w in report.waiting],
                "waiting for": [ui.duration((now - w.oldest).total_seconds()) for w in report.waiting],
            }
        ),
        hide_index=True,
    )


@st.fragment(run_every=REFRESH_S)
def live_view() -> None:
    now = data.utc_now()
    report = data.load_on_time(database_url, data.live_instant(now), hours)
    verdict_banner(report)
    headline(report, now)
    st.subheader("Start lag per scheduled minute")
    if report.minutes:
        st.altair_chart(charts.start_lag_chart(report.minutes, report.target_ms), width="stretch")
        st.caption(
            "p50/p95/p99 to within one lag bucket (10 ms below 1 s, 100 ms below 10 s, 1 s below "
            "100 s); max exact. Runs that have not started are counted above, not here."
        )
    else:
        st.caption(f"No run scheduled since {ui.clock(report.window_start, now)} has started.")
    waiting_table(report, now)
    st.caption(f"Updated {now:%H:%M:%S} UTC; refreshes every {REFRESH_S} s.")


live_view()
