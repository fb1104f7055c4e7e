"""How many processors to run now so the forecast is covered ahead of the load. Pure.

An autoscaler asks at `now`; the answer must already cover every minute up to `now + lead`
(processors take a while to boot) and keep the fleet for `cooldown` minutes after the need
drops (no flapping between busy minutes). That is the fleet `plan_scaling` wants in the
current minute, counted in processors instead of worker slots:

    worker_slots = max(required_instances(m) for m in [now - cooldown, now + lead])
    processors   = ceil(worker_slots / concurrency)

One worker slot is one instance of the scaling formula (`engine.core.scaling`); a processor
runs `concurrency` of them at once.

Worked example with the defaults (capacity 10,000 ms, buffer 0.10: 9,000 ms per slot) and
`concurrency=4`: at 10:00 with `lead_minutes=2`, `cooldown_minutes=1`, minutes 09:59..10:02
need 0, 3, 10 and 2 slots (27,000 ms, 90,000 ms, 18,000 ms of work in the last three), so
`worker_slots == 10` (set by 10:01) and `processors == ceil(10 / 4) == 3`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.core.forecast import MINUTE, ForecastMinute, floor_minute

# Longest lead or cool-down an autoscaler may ask for: one day of minutes.
MAX_LEAD_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class TargetWindow:
    """The minutes one answer covers, as [first, end): `cooldown` whole minutes before the
    current one, the current one, and `lead` after it."""

    first: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.first) / MINUTE)


@dataclass(frozen=True, slots=True)
class ProcessorTarget:
    """What to run now: `processors` of `concurrency` slots each, for `worker_slots` slots,
    the highest need of the window (first reached in `peak_minute`; None when nothing is
    needed)."""

    processors: int
    worker_slots: int
    concurrency: int
    peak_minute: datetime | None
    window: TargetWindow


def target_window(now: datetime, lead_minutes: int, cooldown_minutes: int) -> TargetWindow:
    """The window for an answer at `now`. At 10:00:30 with lead 2 and cool-down 1 it is
    [09:59, 10:03): the minutes 09:59, 10:00, 10:01 and 10:02."""
    for name, value in (("lead_minutes", lead_minutes), ("cooldown_minutes", cooldown_minutes)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
        if not 0 <= value <= MAX_LEAD_MINUTES:
            raise ValueError(f"{name} must be from 0 to {MAX_LEAD_MINUTES}, got {value}")
    current = floor_minute(now)
    return TargetWindow(
        first=current - timedelta(minutes=cooldown_minutes),
        end=current + timedelta(minutes=lead_minutes + 1),
    )


def processors_for_slots(worker_slots: int, concurrency: int) -> int:
    """Processors of `concurrency` slots that give at least `worker_slots`:
    `processors_for_slots(10, 4) == 3`, `processors_for_slots(8, 4) == 2`, `(0, 4) == 0`."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if worker_slots < 0:
        raise ValueError(f"worker_slots must not be negative, got {worker_slots}")
    return -(-worker_slots // concurrency)


def processor_target(
    series: Sequence[ForecastMinute], window: TargetWindow, concurrency: int
) -> ProcessorTarget:
    """The target from the forecast of exactly the window's minutes (as `forecast(...)`
    returns them from `window.first` for `window.minutes` minutes, empty ones as zero).

    Raises ValueError when `series` is not that window, so a short read cannot pass for a
    quiet one."""
    expected = [window.first + index * MINUTE for index in range(window.minutes)]
    if [minute.minute for minute in series] != expected:
        raise ValueError("the series must hold every minute of the window, in order")
    peak = max(series, key=lambda minute: minute.required_instances)
    slots = peak.required_instances
    return ProcessorTarget(
        processors=processors_for_slots(slots, concurrency),
        worker_slots=slots,
        concurrency=concurrency,
        peak_minute=peak.minute if slots else None,
        window=window,
    )
