"""promtool (Debian's `prometheus` package) for the alert-rule tests: installed on first use
when missing, under a lock so that parallel workers install it once. Under CI a missing
promtool fails the tests instead of skipping them."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import IN_CI

LOCK = Path(tempfile.gettempdir()) / "headway-promtool-install.lock"


def _install_promtool() -> str | None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"]
    if subprocess.run(command, env=env, capture_output=True, timeout=600, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600, check=False)
        subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
    return shutil.which("promtool")


@pytest.fixture(scope="session")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        with LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            found = shutil.which("promtool") or _install_promtool()
    if found is None:
        message = "promtool is missing and could not be installed (apt-get install prometheus)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found
