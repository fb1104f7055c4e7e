"""Fire times per second of `engine.core.cron.fire_times`, next to croniter in the same run.

Run from the repository root: `python benchmarks/bench_cron.py`. Each row expands one
expression over a window repeatedly for about half a second per library; "calls/s" matters for
the Scheduler, which expands many tasks over short windows.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# Run as a script, Python puts benchmarks/ first on sys.path; measure this checkout's engine,
# not whichever one the virtualenv has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from croniter import croniter  # noqa: E402

from engine.core.cron import fire_times, parse_schedule  # noqa: E402

START = datetime(2026, 3, 10, 6, 7, tzinfo=UTC)
ROWS = [
    ("* * * * *", "UTC", "1 day", timedelta(days=1)),
    ("* * * * *", "Europe/Berlin", "1 day", timedelta(days=1)),
    ("*/5 9-17 * * mon-fri", "Europe/Berlin", "1 week", timedelta(days=7)),
    ("*/15 * * * *", "America/New_York", "1 year", timedelta(days=365)),
    ("0 2 * * *", "Europe/Berlin", "1 year", timedelta(days=365)),
    ("0 0 L * *", "UTC", "10 years", timedelta(days=3652)),
    ("* * * * *", "Europe/Berlin", "10 minutes", timedelta(minutes=10)),
]
Expand = Callable[[str, str, timedelta], int]
SECONDS_PER_ROW = 0.5


def ours(expression: str, zone: str, window: timedelta) -> int:
    return len(fire_times(parse_schedule(expression, zone), START, START + window))


def theirs(expression: str, zone: str, window: timedelta) -> int:
    until = START + window
    iterator = croniter(expression, START.astimezone(ZoneInfo(zone)))
    count = 0
    while iterator.get_next(datetime) <= until:
        count += 1
    return count


def measure(expand: Expand, expression: str, zone: str, window: timedelta) -> tuple[float, float]:
    """(fire times per second, calls per second) over about SECONDS_PER_ROW."""
    fires = calls = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < SECONDS_PER_ROW:
        fires += expand(expression, zone, window)
        calls += 1
    return fires / elapsed, calls / elapsed


def main() -> None:
    print(
        f"{'expression':22} {'zone':17} {'window':>10} {'headway fires/s':>16} "
        f"{'croniter fires/s':>17} {'speed-up':>9} {'headway calls/s':>16}"
    )
    for expression, zone, label, window in ROWS:
        # Away from DST both must count the same fire times, or the race is not fair.
        if zone == "UTC" and ours(expression, zone, window) != theirs(expression, zone, window):
            raise SystemExit(f"results differ for {expression!r} in UTC")
        our_fires, our_calls = measure(ours, expression, zone, window)
        their_fires, _ = measure(theirs, expression, zone, window)
        print(
            f"{expression:22} {zone:17} {label:>10} {our_fires:16,.0f} "
            f"{their_fires:17,.0f} {our_fires / their_fires:8.0f}x {our_calls:16,.0f}"
        )


if __name__ == "__main__":
    main()
