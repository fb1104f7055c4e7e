"""Capacity: required instances per minute for the coming hours against the worker slots
running now, and what to do about it over the whole window.

An instance of the formula runs one task at a time, so the fleet is counted in worker
slots: the sum of the live processors' concurrency."""

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


def headline(outlook: CapacityOutlook, now: datetime) -> str:
    """What to do over the whole window: reach the peak by its minute, starting with the
    first shortfall. Example: "Scale to 443 instances by 14:00 UTC (in 21 min), the peak of
    the next 180 minutes; first short at 13:39 UTC (now): 1 needed, 0 worker slots running."
    """
    plan = outlook.plan
    first, peak, minutes = plan.first_shortfall, plan.peak, len(outlook.series)
    if first is None or peak is None:
        needed = f"; the peak is {peak.required_instances} at {ui.clock(peak.minute, now)}" if peak else ""
        covered = f"The {plan.current_instances} worker slots running now cover the next {minutes} minutes"
        return f"{covered}{needed}."
    return (
        f"**Scale to {peak.required_instances} instances by {ui.clock(peak.minute, now)} "
        f"({ui.from_now(peak.minute, now)})**, the peak of the next {minutes} minutes; first short at "
        f"{ui.clock(first.minute, now)} ({ui.from_now(first.minute, now)}): {first.required_instances} "
        f"needed, {plan.current_instances} worker slots running. Short in {plan.minutes_short} of "
        f"{minutes} minutes."
    )


def call_out(outlook: CapacityOutlook, now: datetime) -> None:
    if outlook.plan.first_shortfall is not None:
        st.error(headline(outlook, now), icon=":material/trending_up:")
    else:
        st.success(headline(outlook, now), icon=":material/check_circle:")


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
    running, first_column, peak_column, short_column, queue_column = st.columns(5)
    running.metric(
        "Worker slots now",
        plan.current_instances,
        help="The formula's instances running now: the concurrency of every processor with a "
        "heartbeat in the last 30 s, added up (one slot runs one task at a time).",
    )
    first = plan.first_shortfall
    first_column.metric(
        "First shortfall",
        ui.clock(first.minute, now) if first else "none",
        delta=f"{first.required_instances} instances, {ui.from_now(first.minute, now)}" if first else None,
        delta_color="inverse",
        delta_arrow="up",
    )
    peak = plan.peak
    peak_column.metric(
        "Peak needed",
        f"{peak.required_instances} instances" if peak else "none",
        delta=f"at {ui.clock(peak.minute, now)}" if peak else None,
        delta_color="off",
        delta_arrow="off",
    )
    short_column.metric("Minutes short", plan.minutes_short)
    waiting = data.load_waiting(database_url, data.live_instant(now))
    queue_column.metric(
        "Queue depth now",
        sum(w.due for w in waiting),
        help="Runs due now that no processor has started (Scheduled or Queued); see On time.",
    )
    st.altair_chart(charts.capacity_chart(outlook.series, plan), width="stretch")
    st.subheader("Scale points")
    st.caption(
        f"Planned fleet: each minute's need, started {lead_minutes} min early and kept "
        f"{cooldown_minutes} min after it drops."
    )
    scale_table(outlook, now)
    st.caption(f"Updated {now:%H:%M:%S} UTC; forecast from the database's schedule rows.")


live_view()
