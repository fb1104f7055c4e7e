"""The simulation-planning notebook runs top to bottom on the example workload, compares the
three rules, charts required against provided instances and finds the smallest fixed fleet."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.notebooks.helpers import execute, html_outputs, printed_text


def test_simulation_planning_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("HEADWAY_CAPACITY_MS", "HEADWAY_BUFFER"):
        monkeypatch.delenv(variable, raising=False)  # the figures below are for the defaults
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    began = time.monotonic()
    notebook = execute("simulation_planning.ipynb", tmp_path)
    assert time.monotonic() - began < 60

    text = printed_text(notebook)
    assert "capacity_ms=10000, buffer=0.1, target 10 s, 5 replications (seed 0)" in text
    # Seeded, so exact: the formula peaks at 116 instances over the 5 replications, and all
    # three rules pass; the fixed peak-sized fleet costs the most.
    assert "   formula: PASS, 100.000 % on time" in text
    assert " corrected: PASS, 100.000 % on time" in text
    assert "       116: PASS, 100.000 % on time" in text
    assert "Smallest fixed fleet that passes all 5 replications: 53 instances" in text
    assert "against the formula's 9,906)" in text

    tables = html_outputs(notebook, "<table")
    assert len(tables) == 3  # workload, rules side by side, sweep
    assert "hourly-reports" in tables[0] and "60 a minute at random" in tables[0]
    assert all(rule in tables[1] for rule in ("formula", "corrected", "116", "instance_minutes"))
    assert ">52</th>" in tables[2] and ">53</th>" in tables[2]  # fail, then pass
    assert tables[2].count(">fail<") == 4 and tables[2].count(">pass<") == 5
    charts = html_outputs(notebook, "vega-lite")
    assert len(charts) == 2
    assert "required (formula)" in charts[0] and "provided: corrected" in charts[0]
    assert "provided: 116" in charts[0]
    assert "delay_max_s" in charts[1] and "fixed instances" in charts[1]
