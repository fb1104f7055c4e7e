"""When to scale: scale-up and scale-down moments from a forecast and the fleet running now.

Pure: the forecast series and the current instance count are passed in. The dashboard's
Capacity page and the capacity-planning notebook both read their call-outs from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from engine.core.forecast import ForecastMinute
from engine.core.scaling import required_instances


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class ScalePoint:
    """At `minute`, the fleet should go from `from_instances` to `to_instances`."""

    minute: datetime
    from_instances: int
    to_instances: int

    @property
    def direction(self) -> Direction:
        return Direction.UP if self.to_instances > self.from_instances else Direction.DOWN


@dataclass(frozen=True, slots=True)
class ScalePlan:
    """What a forecast means for a fleet of `current_instances`.

    `first_shortfall` is the first minute needing more instances than run now (None: the
    fleet covers the whole series); `peak` is the first minute of the highest need (None only
    for an empty series); `minutes_short` counts the minutes needing more than run now;
    `fleet` is the fleet wanted in each minute of the series, and `points` the moments its
    size changes (from `current_instances` at first), in time order.
    """

    current_instances: int
    first_shortfall: ForecastMinute | None
    peak: ForecastMinute | None
    minutes_short: int
    fleet: tuple[int, ...]
    points: tuple[ScalePoint, ...]


def plan_scaling(
    series: Sequence[ForecastMinute],
    current_instances: int,
    lead_minutes: int = 0,
    cooldown_minutes: int = 0,
) -> ScalePlan:
    """The scale plan for `series` starting from `current_instances`.

    The fleet wanted in minute i is the highest need from `cooldown_minutes` before it to
    `lead_minutes` after it: instances start `lead_minutes` early (boot time) and stay
    `cooldown_minutes` after the need drops (no flapping between busy minutes). With both 0
    the fleet follows the need exactly; without lead, the fleet first grows past
    `current_instances` in the first shortfall minute.

    Example: needs [0, 2, 0, 3, 0] from 0 instances give up to 2 at minute 1, down to 0 at
    minute 2, up to 3 at minute 3 and down to 0 at minute 4; with `cooldown_minutes=1` they
    give up to 2 at minute 1, up to 3 at minute 3, and no scale-down inside the series.
    """
    if current_instances < 0:
        raise ValueError(f"current_instances must not be negative, got {current_instances}")
    if lead_minutes < 0 or cooldown_minutes < 0:
        raise ValueError("lead_minutes and cooldown_minutes must not be negative")
    needs = [minute.required_instances for minute in series]
    short = [minute for minute in series if minute.required_instances > current_instances]
    peak = max(series, key=lambda minute: minute.required_instances, default=None)
    fleet = tuple(
        max(needs[max(0, index - cooldown_minutes) : index + lead_minutes + 1]) for index in range(len(needs))
    )
    points: list[ScalePoint] = []
    running = current_instances
    for minute, wanted in zip(series, fleet, strict=True):
        if wanted != running:
            points.append(ScalePoint(minute.minute, running, wanted))
            running = wanted
    return ScalePlan(
        current_instances=current_instances,
        first_shortfall=short[0] if short else None,
        peak=peak,
        minutes_short=len(short),
        fleet=fleet,
        points=tuple(points),
    )


def rescale(series: Iterable[ForecastMinute], capacity_ms: int, buffer: float) -> list[ForecastMinute]:
    """The same work under other formula parameters: each minute's `required_instances`
    recomputed from its `total_compute_ms`. Example: 27,001 ms needs 4 instances at the
    defaults and 3 with `capacity_ms=10_000, buffer=0.0`."""
    return [
        ForecastMinute(
            minute=m.minute,
            task_count=m.task_count,
            total_compute_ms=m.total_compute_ms,
            required_instances=required_instances(m.total_compute_ms, capacity_ms, buffer),
        )
        for m in series
    ]


@dataclass(frozen=True, slots=True)
class WhatIf:
    """One parameter choice and what it costs over a series: the highest need and the
    instance-minutes a fleet that follows the need exactly would run."""

    capacity_ms: int
    buffer: float
    peak_instances: int
    instance_minutes: int


def what_if(
    series: Sequence[ForecastMinute], capacities_ms: Iterable[int], buffers: Iterable[float]
) -> list[WhatIf]:
    """Every (capacity_ms, buffer) combination, capacities outermost, in the order given."""
    buffer_list = list(buffers)
    result = []
    for capacity_ms in capacities_ms:
        for buffer in buffer_list:
            needs = [m.required_instances for m in rescale(series, capacity_ms, buffer)]
            result.append(WhatIf(capacity_ms, buffer, max(needs, default=0), sum(needs)))
    return result
