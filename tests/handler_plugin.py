"""A package that registers a handler through the `headway.handlers` entry point, as
installing it would: only its metadata, since registering a handler imports nothing."""

from __future__ import annotations

from pathlib import Path


def write_plugin_metadata(directory: Path, handler: str) -> Path:
    """Write the metadata of a distribution declaring `handler` into `directory` and return
    it: put it on `sys.path` (or PYTHONPATH) and `handler` is registered."""
    info = directory / "headway_test_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: headway-test-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[headway.handlers]\n{handler} = headway_test_plugin:handle\n")
    return directory
