"""The forecast-accuracy page on snapshots and runs of one minute, and with none."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from tests.dashboard.conftest import OpenDashboard, texts
from tests.integration.test_forecast_accuracy import MINUTE, plan_and_snapshot, run_minute


def test_the_page_compares_each_lead_with_what_ran(
    open_dashboard: OpenDashboard, db_url: str, db_engine: Engine
) -> None:
    plan_and_snapshot(db_engine)
    run_minute(db_engine, [3_000, 3_000, 3_000, 4_000])
    app = open_dashboard(db_url, "forecast_accuracy", now=MINUTE + timedelta(minutes=3))
    assert texts(app, "title") == ["Forecast accuracy"]
    leads, types = (frame.value for frame in app.dataframe)
    assert list(leads["lead (min)"]) == [180, 60, 10]
    assert list(leads["under-forecast minutes"]) == [1, 1, 1]
    assert set(types["task type"]) == {"http"}
    assert set(types["used compute (ms)"]) == {17_000}


def test_without_snapshots_the_page_says_where_they_come_from(
    open_dashboard: OpenDashboard, sqlite_url: str
) -> None:
    app = open_dashboard(sqlite_url, "forecast_accuracy", now=MINUTE)
    assert any("headway scheduler" in text for text in texts(app, "info"))
    assert not app.dataframe
