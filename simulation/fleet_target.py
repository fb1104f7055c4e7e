"""The fleet a schedule needs for an on-time share (99.9 % rather than every task), with the
uncertainty over replications. For the planner notebook; no I/O.

`fleet_for_on_time_share(workload, scenario, high, 99.9)` bisects fixed fleet sizes in
[1, high]: a size passes when the on-time share pooled over the scenario's replications
reaches the target. Each replication is then answered on its own (the same simulations,
cached by fleet size), so the spread of those answers says how sure the pooled one is:
`per_replication == [2, 2, 3, 2, 2]` means one week in five of this traffic would need 3.

Bisection assumes a larger fleet starts no task later, exact for prefetch 1 without retries
(the FIFO multi-server comparison); with retries a larger fleet also retries sooner, which
does not change the answer on any workload tested, but is not proved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from simulation.metrics import Summary
from simulation.run import Scenario, simulate
from simulation.workload import Workload


@dataclass(frozen=True, slots=True)
class FleetAnswer:
    """`instances`: the smallest fleet meeting the target over all replications pooled (None:
    not even `high`); `per_replication`: the same question per replication; `summaries`: every
    fleet size simulated, pooled."""

    target_pct: float
    instances: int | None
    per_replication: tuple[int | None, ...]
    summaries: dict[int, Summary]
    replication_pct: dict[int, tuple[float, ...]]


def fleet_for_on_time_share(
    workload: Workload, scenario: Scenario, high: int, target_pct: float
) -> FleetAnswer:
    """See the module docstring. `scenario.instances` is replaced by each size tried."""
    if scenario.dispatch.prefetch != 1:
        raise ValueError("the bisection needs prefetch 1 (where a larger fleet is never slower)")
    if not 0 < target_pct <= 100:
        raise ValueError(f"target_pct must be in (0, 100], got {target_pct}")
    summaries: dict[int, Summary] = {}
    shares: dict[int, tuple[float, ...]] = {}

    def run(size: int) -> None:
        if size not in summaries:
            result = simulate(workload, replace(scenario, instances=str(size)))
            summaries[size] = result.summary
            shares[size] = tuple(r.summary.on_time_pct for r in result.replications)

    def smallest(meets: Callable[[int], bool]) -> int | None:
        run(high)
        if not meets(high):
            return None
        low, top = 0, high  # `low` fails (no instance starts nothing), `top` meets
        while top - low > 1:
            middle = (low + top) // 2
            run(middle)
            if meets(middle):
                top = middle
            else:
                low = middle
        return top

    pooled = smallest(lambda size: summaries[size].on_time_pct >= target_pct)
    def meets_in(index: int) -> Callable[[int], bool]:
        return lambda size: shares[size][index] >= target_pct

    per_replication = tuple(smallest(meets_in(index)) for index in range(scenario.replications))
    return FleetAnswer(target_pct, pooled, per_replication, dict(sorted(summaries.items())), shares)
