"""Run every benchmark in this folder, one after another, printing their figures.

    .venv/bin/python benchmarks/run_all.py [name ...]     # e.g. scheduler cron e2e fleet_24h
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"__init__", "common", "run_all"}


def main() -> int:
    wanted = set(sys.argv[1:])
    failures = 0
    for script in sorted(HERE.glob("*.py")):
        if script.stem in NOT_BENCHMARKS:
            continue
        name = script.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        print(f"== {name}: {sys.executable} {script.relative_to(HERE.parent)}", flush=True)
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        failures += result.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
