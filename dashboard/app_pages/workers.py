"""Workers: the live processors (host, pid, concurrency, runs in flight, last heartbeat) and
the attempts they finish per minute."""

from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, ui
from engine.services.workers import worker_slots

THROUGHPUT_WINDOW = timedelta(hours=1)
REFRESH_S = 15

database_url = ui.require_database()
st.title("Workers")


@st.fragment(run_every=REFRESH_S)
def live_view() -> None:
    now = data.utc_now()
    instant = data.live_instant(now)
    processors = data.load_processors(database_url, instant)
    slots, running, count = st.columns(3)
    count.metric("Live processors", len(processors), help="A heartbeat within the last 30 s")
    slots.metric(
        "Worker slots", worker_slots(processors), help="Concurrency added up: the formula's instances"
    )
    running.metric("Running now", sum(p.running for p in processors))
    if processors:
        st.dataframe(
            {
                "host": [p.hostname for p in processors],
                "pid": [p.pid for p in processors],
                "concurrency": [p.concurrency for p in processors],
                "running now": [p.running for p in processors],
                "last heartbeat": [f"{(now - p.last_seen_at).total_seconds():.0f} s ago" for p in processors],
                "up since": [ui.shown_instant(p.started_at) for p in processors],
                "processor": [p.processor_id for p in processors],
            },
            hide_index=True,
        )
    else:
        st.warning(
            "No processor has sent a heartbeat in the last 30 s: nothing runs tasks.",
            icon=":material/power_off:",
        )
    st.subheader("Attempts finished per minute, last hour")
    minutes = data.load_throughput(database_url, instant - THROUGHPUT_WINDOW, instant)
    if minutes:
        frame = pd.DataFrame(
            {
                "minute": pd.to_datetime([m.minute for m in minutes], utc=True),
                "succeeded": [m.succeeded for m in minutes],
                "failed": [m.failed for m in minutes],
            }
        ).melt(id_vars=["minute"], var_name="outcome", value_name="attempts")
        st.altair_chart(
            alt.Chart(frame)
            .mark_bar()
            .encode(
                x=alt.X(
                    "minute:T",
                    title="minute (UTC)",
                    axis=alt.Axis(format="%H:%M"),
                    scale=alt.Scale(type="utc"),
                ),
                y=alt.Y("attempts:Q", title="attempts finished"),
                color=alt.Color(
                    "outcome:N",
                    scale=alt.Scale(domain=["succeeded", "failed"], range=["#2ca02c", "#d62728"]),
                    legend=alt.Legend(orient="top"),
                ),
                tooltip=["minute:T", "outcome:N", "attempts:Q"],
            )
            .properties(height=240),
            width="stretch",
        )
    else:
        st.caption("No attempt finished in the last hour.")
    st.caption(f"Updated {now:%H:%M:%S} UTC; refreshes every {REFRESH_S} s.")


live_view()
