"""A corrected scaling rule: size each minute by its burst's makespan against the start target.

The engine's formula, `required_instances(W) = ceil(W / (capacity_ms x (1 - buffer)))`, plans
each minute's work W on idle instances with exact durations and free dispatch. Simulation
(docs/simulation.md) shows where that breaks, and this rule repairs each in turn:

1. **Carry-over.** Work still running from earlier minutes occupies instances. A task due at
   offset o in its minute starts at the latest after the poll interval plus the burst window
   and the dispatch overhead, so it may still run `o + poll + window + overhead + mean - 60 s k`
   into the k-th next minute; that remainder, capped at the window (it cannot block more than
   a whole instance for the burst), is carried.
2. **Dispatch overhead.** Each task costs its duration plus the per-task overhead.
3. **Target and poll.** The burst must be picked up within `window = min(capacity x (1 -
   buffer), target - poll - overhead)`, not merely within the capacity.
4. **Variance.** Plan the minute's total at mean + z standard deviations of the sum
   (`z * sqrt(sum count * sd^2)`), since only the total decides when the last task starts;
   z = 2 leaves about 2 % of minutes above plan, and those rarely start a task late (the
   bound below is loose), as the heavy-tail scenario in docs/simulation.md shows.

required'(m) = ceil((new(m) + z sqrt(var(m)) + carried(m)) / window)

Why it is enough for bursts (fixed durations, sd 0): if a task of minute m waits past the
window, every instance was busy for the whole window, so n x window < carried + new work;
hence n >= (new + carried) / window instances start every task within the window.

Worked example with the defaults (target 10 s, poll 1 s, overhead 5 ms, window 8,995 ms):
100 tasks of 900 ms due at :00 cost 100 x 905 = 90,500 ms, so ceil(90,500 / 8,995) = 11
instances where the formula asks for ceil(90,000 / 9,000) = 10.

`lead_targets` handles scale-up lag: ask for a minute's instances `lag` before it starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from engine.core.scaling import DEFAULT_BUFFER, DEFAULT_CAPACITY_MS, effective_capacity_ms

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class WorkGroup:
    """`count` tasks due `offset_ms` into minute `minute`, each `mean_ms` (sd `sd_ms`) long."""

    minute: int
    offset_ms: float
    count: int
    mean_ms: float
    sd_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class BurstRule:
    """What the corrected rule must honour; defaults are the engine's and the simulator's."""

    target_ms: int = 10_000
    capacity_ms: int = DEFAULT_CAPACITY_MS
    buffer: float = DEFAULT_BUFFER
    poll_interval_ms: float = 1_000
    dispatch_overhead_ms: float = 5
    z: float = 2.0


def burst_window_ms(rule: BurstRule) -> Fraction:
    """Time one instance may spend on a burst: `min(9,000, 10,000 - 1,000 - 5) == 8,995` ms."""
    slack = Fraction(rule.target_ms) - Fraction(rule.poll_interval_ms)
    slack -= Fraction(rule.dispatch_overhead_ms)
    window = min(effective_capacity_ms(rule.capacity_ms, rule.buffer), slack)
    if window <= 0:
        raise ValueError("target_ms must exceed poll_interval_ms + dispatch_overhead_ms")
    return window


def corrected_required_instances(
    groups: Iterable[WorkGroup], minutes: int, rule: BurstRule = BurstRule()
) -> list[int]:
    """Instances per minute for minutes `0 .. minutes - 1` and on, while carried work lasts.

    The list is at least `minutes` long; it is longer when work due in the last minutes runs
    past them. Totals are rounded to the microsecond before the exact division, so that a
    total of exactly n windows never asks for n + 1 instances through float error.
    """
    window = burst_window_ms(rule)
    window_ms = float(window)
    overhead = rule.dispatch_overhead_ms
    latest_start = rule.poll_interval_ms + window_ms + overhead
    work = [0.0] * minutes
    variance = [0.0] * minutes
    carried = [0.0] * minutes

    def grow(length: int) -> None:
        for series in (work, variance, carried):
            series.extend([0.0] * (length - len(series)))

    for group in groups:
        grow(group.minute + 1)
        work[group.minute] += group.count * (group.mean_ms + overhead)
        variance[group.minute] += group.count * group.sd_ms * group.sd_ms
        end_ms = group.offset_ms + latest_start + group.mean_ms
        ahead = 1
        while end_ms - ahead * MINUTE_MS > 0:
            grow(group.minute + ahead + 1)
            carried[group.minute + ahead] += group.count * min(
                window_ms, end_ms - ahead * MINUTE_MS
            )
            ahead += 1
    result = []
    for new, var, carry in zip(work, variance, carried, strict=True):
        total_us = round((new + rule.z * math.sqrt(var) + carry) * 1_000)
        ratio = Fraction(total_us, 1_000) / window
        result.append(-(-ratio.numerator // ratio.denominator))
    return result


def lead_targets(per_minute: Sequence[int], lag_ms: int) -> list[tuple[int, int]]:
    """Change points `(time_ms, instances)` that request each minute's instances `lag_ms`
    before it starts, and release them only when the minute is over.

    At time t the level is the largest target of the minutes that have begun by `t + lag`
    and not ended by t. Example: targets [2, 5, 1] with a 20 s lag give
    [(0, 2), (40_000, 5), (120_000, 1)].
    """
    if lag_ms < 0:
        raise ValueError(f"lag_ms must not be negative, got {lag_ms}")
    points = {0}
    for minute in range(len(per_minute)):
        points.add(minute * MINUTE_MS)
        if minute * MINUTE_MS - lag_ms > 0:
            points.add(minute * MINUTE_MS - lag_ms)
    changes: list[tuple[int, int]] = []
    last = len(per_minute) - 1
    for time_ms in sorted(points):
        first = min(time_ms // MINUTE_MS, last)
        upto = min((time_ms + lag_ms) // MINUTE_MS, last)
        level = max(per_minute[first : upto + 1])
        if not changes or changes[-1][1] != level:
            changes.append((time_ms, level))
    return changes
