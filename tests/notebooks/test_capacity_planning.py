"""The capacity-planning notebook runs top to bottom on a demo database and shows its figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KERNEL_NAME = "headway-test"


def kernel_for_this_interpreter(tmp_path: Path) -> KernelManager:
    """A kernel running the interpreter that runs the tests (the project's venv), whatever
    kernels the machine has installed."""
    spec_dir = tmp_path / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Headway tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    return KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def outputs(notebook: Any) -> list[dict[str, Any]]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def test_capacity_planning_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADWAY_DATABASE_URL", raising=False)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    notebook = nbformat.read(NOTEBOOKS / "capacity_planning.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        km=kernel_for_this_interpreter(tmp_path),
        timeout=60,
        startup_timeout=30,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    results = outputs(notebook)
    text = "\n".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "") for output in results
    )
    assert "using a demo database with 300 cron tasks" in text
    assert "Scale up:" in text and "Peak:" in text
    assert "scale up" in text  # the scale points table
    charts = [
        output["data"]["text/html"]
        for output in results
        if "vega-lite" in output.get("data", {}).get("text/html", "")
    ]
    assert len(charts) == 2  # the forecast and the what-if comparison
    assert "planned fleet" in charts[0] and "scale up by" in charts[0]
    tables = [output for output in results if "<table" in output.get("data", {}).get("text/html", "")]
    assert len(tables) == 3  # scale points, one busy minute, what-if
    assert "capacity_ms" in text and "peak_instances" in text
