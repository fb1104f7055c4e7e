"""Capacity: required instances per minute for the coming hours against the processors
running now, and when to scale."""

from datetime import datetime

import streamlit as st

from dashboard import charts, data, ui
from engine.core.scale_points import Direction
from engine.services.capacity import CapacityOutlook

REFRESH_CHOICES_S = {"off": None, "15 s": 15, "30 s": 30, "60 s": 60}

database_url = ui.require_database()
defaults = data.settings()

st.title("Capacity")
with st.expander("Parameters", expanded=False):
    hours_column, capacity_column, buffer_column = st.columns(3)
    hours = hours_column.number_input(
        "Hours ahead", min_value=0.5, max_value=48.0, value=float(defaults.forecast_hours), step=0.5
    )
    capacity_ms = int(
        capacity_column.number_input(
            "capacity_ms (compute per instance per minute)",
            min_value=1,
            value=defaults.capacity_ms,
            step=1_000,
        )
    )
    buffer = buffer_column.number_input(
        "buffer (share kept free)", min_value=0.0, max_value=0.99, value=float(defaults.buffer), step=0.05
    )
    lead_column, cooldown_column, refresh_column = st.columns(3)
    lead_minutes = int(
        lead_column.number_input(
            "Lead minutes",
            min_value=0,
            max_value=60,
            value=0,
            help="Start instances this many minutes before they are needed (boot time).",
        )
    )
    cooldown_minutes = int(
        cooldown_column.number_input(
            "Cool-down minutes",
            min_value=0,
            max_value=120,
            value=5,
            help="Keep instances this many minutes after the need drops, instead of "
            "scaling down between busy minutes.",
        )
    )
    refresh = refresh_column.selectbox("Auto refresh", list(REFRESH_CHOICES_S), index=2)


def call_out(outlook: CapacityOutlook, now: datetime) -> None:
    plan = outlook.plan
    first = plan.first_shortfall
    if first is not None:
        st.error(
            f"**Scale up to {first.required_instances} instances by {ui.clock(first.minute, now)} "
            f"({ui.from_now(first.minute, now)})**: {plan.current_instances} running now. "
            f"The fleet is short in {plan.minutes_short} of the next {len(outlook.series)} minutes.",
            icon=":material/trending_up:",
        )
    else:
        st.success(
            f"The {plan.current_instances} instances running now cover the next "
            f"{len(outlook.series)} minutes.",
            icon=":material/check_circle:",
        )


def scale_table(outlook: CapacityOutlook, now: datetime) -> None:
    points = outlook.plan.points
    if not points:
        st.caption("No change of fleet size in this window.")
        return
    st.dataframe(
        {
            "minute (UTC)": [ui.clock(p.minute, now) for p in points],
            "when": [ui.from_now(p.minute, now) for p in points],
            "action": [f"scale {p.direction.value}" for p in points],
            "from": [p.from_instances for p in points],
            "to": [p.to_instances for p in points],
        },
        hide_index=True,
        column_config={
            "action": st.column_config.TextColumn(
                help=f"scale {Direction.UP.value}: add instances; scale {Direction.DOWN.value}: remove them"
            )
        },
    )


@st.fragment(run_every=REFRESH_CHOICES_S[refresh])
def live_view() -> None:
    now = data.utc_now()
    outlook = data.load_capacity(
        database_url, data.live_instant(now), hours, capacity_ms, buffer, lead_minutes, cooldown_minutes
    )
    plan = outlook.plan
    call_out(outlook, now)
    running, first_column, peak_column, short_column = st.columns(4)
    running.metric(
        "Running now", plan.current_instances, help="Processors with a heartbeat in the last minute"
    )
    first = plan.first_shortfall
    first_column.metric(
        "Scale up by",
        ui.clock(first.minute, now) if first else "not needed",
        delta=f"{first.required_instances} instances, {ui.from_now(first.minute, now)}" if first else None,
        delta_color="inverse",
        delta_arrow="up",
    )
    peak = plan.peak
    peak_column.metric(
        "Peak",
        f"{peak.required_instances} instances" if peak else "-",
        delta=f"at {ui.clock(peak.minute, now)}" if peak else None,
        delta_color="off",
        delta_arrow="off",
    )
    short_column.metric("Minutes short", plan.minutes_short)
    st.altair_chart(charts.capacity_chart(outlook.series, plan), width="stretch")
    st.subheader("Scale points")
    st.caption(
        f"Planned fleet: each minute's need, started {lead_minutes} min early and kept "
        f"{cooldown_minutes} min after it drops."
    )
    scale_table(outlook, now)
    st.caption(f"Updated {now:%H:%M:%S} UTC; forecast from the database's schedule rows.")


live_view()
