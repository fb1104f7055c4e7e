"""The forecast-vs-actual notebook runs top to bottom on the demo history and finds the misses
that history was built with."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks.helpers import execute, html_outputs, printed_text


def test_forecast_vs_actual_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("HEADWAY_DATABASE_URL", "HEADWAY_CAPACITY_MS", "HEADWAY_BUFFER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    notebook = execute("forecast_vs_actual.ipynb", tmp_path)

    text = printed_text(notebook)
    assert "using a demo history database" in text
    assert "minutes 2026-12-01 10:00 to 12:00 UTC, 360 (minute, lead) snapshots" in text
    # notification runs 1,200 ms against 800 planned, http retries: the forecast plans too
    # little at every lead.
    for lead in (180, 60, 10):
        assert f"lead {lead:>3} min: compute error" in text
    assert "minutes under-forecast" in text
    assert "largest driver at lead 10 min: task-" in text and "(notification)" in text
    tables = html_outputs(notebook, "<table")
    assert len(tables) == 2  # per lead, drivers
    assert "late-backfill" in tables[1] or "notification" in tables[1]
    charts = html_outputs(notebook, "vega-lite")
    assert len(charts) == 2
    assert "compute error (ms)" in charts[0] and "sum |error| (ms)" in charts[1]
