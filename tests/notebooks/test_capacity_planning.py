"""The capacity-planning notebook runs top to bottom on a demo database and shows its figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.notebooks.helpers import execute, html_outputs, printed_text


def test_capacity_planning_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADWAY_DATABASE_URL", raising=False)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    notebook = execute("capacity_planning.ipynb", tmp_path)

    text = printed_text(notebook)
    assert "using a demo database with 300 demo tasks" in text
    assert "Scale up:" in text and "Peak:" in text
    assert "scale up" in text  # the scale points table
    charts = html_outputs(notebook, "vega-lite")
    assert len(charts) == 2  # the forecast and the what-if comparison
    assert "planned fleet" in charts[0] and "scale up by" in charts[0]
    tables = html_outputs(notebook, "<table")
    assert len(tables) == 3  # scale points, one busy minute, what-if
    assert "capacity_ms" in text and "peak_instances" in text
