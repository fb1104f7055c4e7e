"""The planner notebook calibrates the simulator from the demo history, bisects the fleet
for 99.9 % on time next week, and shows the spread over replications."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks.helpers import execute, html_outputs, printed_text


def test_fleet_for_next_week_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("HEADWAY_DATABASE_URL", "HEADWAY_CAPACITY_MS", "HEADWAY_BUFFER"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    notebook = execute("fleet_for_next_week.ipynb", tmp_path)

    text = printed_text(notebook)
    assert "next week: 2026-12-07 to 2026-12-14 (UTC)" in text
    # The calibration finds the demo's true models: http lognormal with retries,
    # notification exponential (1,200 ms, not the 800 expected), reminder fixed at 500.
    assert "http                 lognormal" in text
    assert "notification         exponential" in text
    assert "reminder             fixed             500.0" in text
    # Seeded: two processors start 98.2 % on time, three 99.94 %.
    assert "Fleet for 99.9 % on time over 5 replications: 3 processors (99.937 % pooled)" in text
    assert "Per replication: [3, 3, 3, 3, 3]; 5 of 5 weeks are met by 3" in text
    [table] = html_outputs(notebook, "<table")
    assert ">2</th>" in table and ">3</th>" in table and "worst week %" in table
