"""Pieces every page shares: the database check and how instants are shown."""

from __future__ import annotations

import hmac
import os
from datetime import datetime, timedelta

import streamlit as st
from cron_descriptor import ExpressionDescriptor, FormatError, MissingFieldError, Options, WrongArgumentError
from sqlalchemy.engine import make_url

from dashboard import LOGIN_VARIABLE, data
from engine.core.cron_parse import MACROS


def signed_in() -> bool:
    """True when no login is asked for (loopback), or this session gave the API token.
    Otherwise draws the login form and returns False: the caller stops."""
    if os.environ.get(LOGIN_VARIABLE) != "token" or st.session_state.get("auth.signed_in"):
        return True
    st.title("Headway")
    with st.form("auth.form"):
        entered = st.text_input("API token", type="password", key="auth.token")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        expected = data.settings().api_token or ""
        if expected and hmac.compare_digest(entered.encode(), expected.encode()):
            st.session_state["auth.signed_in"] = True
            st.rerun()
        st.error("**token**: not the API token (HEADWAY_API_TOKEN of this dashboard)", icon=":material/lock:")
    return False


def require_database() -> str:
    """The database URL to read, or stop the page with what to do when its schema is not
    the one this Headway needs."""
    url = data.settings().database_url
    problem = data.schema_problem(url)
    if problem is not None:
        st.error(f"The dashboard cannot use the database `{shown_url(url)}`.\n\n{problem}")
        st.markdown("Create or migrate the schema, then reload this page:")
        st.code(f"HEADWAY_DATABASE_URL='{shown_url(url)}' headway db upgrade", language="shell")
        st.stop()
    return url


def shown_url(url: str) -> str:
    """The URL with any password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as given; it holds no parsed secret
        return url


def cron_in_words(expression: str) -> str:
    """The expression in English (cron-descriptor), 24-hour clock: `30 12 * * *` is
    `At 12:30`; `@daily` is said as `0 0 * * *`. Empty when it cannot be described."""
    options = Options()
    options.use_24hour_time_format = True
    expression = MACROS.get(expression.strip().lower(), expression)
    try:
        return str(ExpressionDescriptor(expression, options).get_description())
    except (FormatError, MissingFieldError, WrongArgumentError, ValueError, KeyError):
        return ""


def shown_instant(instant: datetime | None) -> str:
    """`2026-03-02 11:30 UTC` for a grid cell; empty when there is none."""
    return f"{instant:%Y-%m-%d %H:%M} UTC" if instant is not None else ""


def clock(instant: datetime, now: datetime) -> str:
    """`10:15 UTC`, with the date when it is not today's (UTC): `2026-03-02 00:15 UTC`."""
    if instant.date() == now.date():
        return f"{instant:%H:%M} UTC"
    return f"{instant:%Y-%m-%d %H:%M} UTC"


def duration(seconds: float) -> str:
    """`45 s`, `12 min 5 s`, `3 h 20 min`: an age or a wait, to the second below an hour."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def due(instant: datetime | None, now: datetime) -> str:
    """When a next run comes: `in 14 min`, or `overdue 3 min` once it is past and nothing
    started it; empty without a run."""
    if instant is None:
        return ""
    if instant < now - timedelta(minutes=1):
        return f"overdue {from_now(now, instant).removeprefix('in ')}"
    return from_now(instant, now)


def from_now(instant: datetime, now: datetime) -> str:
    """`in 14 min`, `in 2 h 5 min`, `in 1 h`, `in 3 d 4 h` from 48 h on, or `now` for the
    current minute."""
    minutes = int((instant - now + timedelta(seconds=59)) // timedelta(minutes=1))
    if minutes <= 0:
        return "now"
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"in {rest} min"
    if hours >= 48:
        days, hours = divmod(hours, 24)
        return f"in {days} d {hours} h" if hours else f"in {days} d"
    return f"in {hours} h {rest} min" if rest else f"in {hours} h"
