"""The dashboard under `streamlit.testing.v1.AppTest`, on a migrated database and a fixed clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from dashboard import data

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
# A Monday, half a minute into 10:00 UTC.
NOW = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)

OpenDashboard = Callable[..., AppTest]


@pytest.fixture
def open_dashboard(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenDashboard]:
    """`open_dashboard(url, page=None, now=NOW)`: the app run once, on `page` if given.

    The clock is fixed unless `now` is None; caches start empty so no test sees another's
    database."""
    opened: list[str] = []

    def open_(database_url: str, page: str | None = None, now: datetime | None = NOW) -> AppTest:
        monkeypatch.setenv("HEADWAY_DATABASE_URL", database_url)
        if now is not None:
            monkeypatch.setattr(data, "utc_now", lambda: now)
        st.cache_data.clear()
        opened.append(database_url)
        app = AppTest.from_file(APP, default_timeout=30).run()
        if page is not None:
            app.switch_page(f"app_pages/{page}.py").run()
        assert not app.exception, [e.value for e in app.exception]
        return app

    yield open_
    for url in opened:
        data.get_engine(url).dispose()
    st.cache_data.clear()
    st.cache_resource.clear()


def texts(app: AppTest, kind: str) -> list[str]:
    """The text of every element of `kind` (error, success, caption, markdown, ...)."""
    return [str(element.value) for element in getattr(app, kind)]
