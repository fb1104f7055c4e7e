"""Run a notebook top to bottom with nbclient on a kernel of the test interpreter."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
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


def execute(name: str, tmp_path: Path) -> Any:
    """The notebook `name` after running every cell in `tmp_path`; raises CellExecutionError
    on the first failing cell. Callers set IPYTHONDIR and JUPYTER_RUNTIME_DIR under tmp_path."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        km=kernel_for_this_interpreter(tmp_path),
        timeout=60,
        startup_timeout=30,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    return notebook


def outputs(notebook: Any) -> list[dict[str, Any]]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def printed_text(notebook: Any) -> str:
    """Everything the cells printed or returned as plain text."""
    return "\n".join(
        output.get("text", "") + output.get("data", {}).get("text/plain", "")
        for output in outputs(notebook)
    )


def html_outputs(notebook: Any, needle: str) -> list[str]:
    """The HTML outputs containing `needle` (`"vega-lite"` for charts, `"<table"` for tables)."""
    return [
        output["data"]["text/html"]
        for output in outputs(notebook)
        if needle in output.get("data", {}).get("text/html", "")
    ]
