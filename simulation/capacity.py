"""Instance targets over time: fixed, the engine's formula, or the corrected burst rule. Pure.

A `CapacityPlan` is a step function: `targets[i]` instances are wanted from `times_us[i]` on,
and the last target holds for ever (so the fleet can drain work that runs past the window).
The first target is the fleet already running at the window start; later rises pay the
scale-up lag, falls retire instances as they become idle (see `simulation.fast`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from engine.core.burst_scaling import (
    BurstRule,
    WorkGroup,
    corrected_required_instances,
    lead_targets,
)
from engine.core.durations import round_half_up_ms
from engine.core.scaling import required_instances
from simulation.arrivals import US_PER_MIN, US_PER_S, Arrivals
from simulation.durations import DurationModel


@dataclass(frozen=True, slots=True, eq=False)
class CapacityPlan:
    times_us: np.ndarray
    targets: np.ndarray

    def __post_init__(self) -> None:
        if len(self.times_us) == 0 or self.times_us[0] != 0:
            raise ValueError("a plan starts at time 0")
        if np.any(np.diff(self.times_us) <= 0):
            raise ValueError("plan times must increase")

    @property
    def tail(self) -> int:
        return int(self.targets[-1])


@dataclass(frozen=True, slots=True)
class Limits:
    min_instances: int = 1
    max_instances: int | None = None

    def clamp(self, value: int) -> int:
        value = max(value, self.min_instances)
        return value if self.max_instances is None else min(value, self.max_instances)


def fixed_plan(instances: int) -> CapacityPlan:
    return CapacityPlan(np.zeros(1, dtype=np.int64), np.array([instances], dtype=np.int64))


def planned_ms_by_type(models: Mapping[str, DurationModel], names: tuple[str, ...]) -> np.ndarray:
    """Mean duration per type id, rounded half up to whole ms as the engine's averages are."""
    return np.array([round_half_up_ms(models[name].mean_ms) for name in names], dtype=np.int64)


def minute_work(
    arrivals: Arrivals, planned_ms: np.ndarray, minutes: int
) -> tuple[np.ndarray, np.ndarray]:
    """(tasks, planned compute in ms) due in each minute of the window."""
    minute = arrivals.scheduled_us // US_PER_MIN
    tasks = np.bincount(minute, minlength=minutes)[:minutes]
    compute = np.bincount(minute, weights=planned_ms[arrivals.type_ids], minlength=minutes)
    return tasks, np.rint(compute[:minutes]).astype(np.int64)


def formula_targets(compute_ms: np.ndarray, capacity_ms: int, buffer: float) -> list[int]:
    """The engine's `required_instances` for each minute (exact; no clamping)."""
    return [required_instances(int(total), capacity_ms, buffer) for total in compute_ms]


def step_plan(per_minute: list[int], minutes: int, limits: Limits, lag_us: int = 0) -> CapacityPlan:
    """A plan that changes at minute starts, or `lag_us` earlier for rises when lag_us > 0.

    After the window's `minutes` the fleet keeps the last minute's level (raised where the
    rule carries work further): the minutes after the window are not simulated, and dropping
    to the floor would strand work due just before the end that they would have sized for.
    """
    levels = [limits.clamp(value) for value in per_minute]
    last = levels[minutes - 1]
    levels = levels[:minutes] + [max(level, last) for level in levels[minutes:]] + [last]
    changes = (
        lead_targets(levels, lag_us // 1_000)
        if lag_us
        else [(minute * 60_000, level) for minute, level in enumerate(levels)]
    )
    times = np.array([time_ms * 1_000 for time_ms, _ in changes], dtype=np.int64)
    targets = np.array([level for _, level in changes], dtype=np.int64)
    keep = np.ones(len(targets), dtype=bool)
    keep[1:] = targets[1:] != targets[:-1]
    return CapacityPlan(times[keep], targets[keep])


def work_groups(
    arrivals: Arrivals, models: Mapping[str, DurationModel], names: tuple[str, ...]
) -> list[WorkGroup]:
    """Tasks grouped by (second, type), each group at its latest offset: the rule's input."""
    if len(arrivals) == 0:
        return []
    key = (arrivals.scheduled_us // US_PER_S) * len(names) + arrivals.type_ids
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    ends = np.flatnonzero(np.append(sorted_key[1:] != sorted_key[:-1], True))
    counts = np.diff(np.append(-1, ends))
    # A stable sort keeps due-time order inside a group, so its last member is the latest.
    latest = order[ends]
    groups = []
    for type_id, when_us, count in zip(
        arrivals.type_ids[latest].tolist(),
        arrivals.scheduled_us[latest].tolist(),
        counts.tolist(),
        strict=True,
    ):
        model = models[names[type_id]]
        groups.append(
            WorkGroup(
                minute=when_us // US_PER_MIN,
                offset_ms=(when_us % US_PER_MIN) / 1_000,
                count=count,
                mean_ms=model.mean_ms,
                sd_ms=model.sd_ms,
            )
        )
    return groups


def corrected_targets(
    arrivals: Arrivals, models: Mapping[str, DurationModel], minutes: int, rule: BurstRule
) -> list[int]:
    groups = work_groups(arrivals, models, arrivals.type_names)
    return corrected_required_instances(groups, minutes, rule)
