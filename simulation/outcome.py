"""What one simulation run produces, whichever engine ran it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.limits import MAX_SECONDS, ScenarioError, check_within


@dataclass(frozen=True, slots=True, eq=False)
class Dispatch:
    """How tasks reach processors; the defaults are the engine's (see `simulation.cli`)."""

    poll_interval_us: int = 1_000_000
    prefetch: int = 1
    overhead_us: int = 5_000
    scale_up_lag_us: int = 0

    @classmethod
    def from_units(
        cls,
        poll_interval_s: float = 1.0,
        prefetch: int = 1,
        overhead_ms: float = 5.0,
        scale_up_lag_s: float = 0.0,
    ) -> Dispatch:
        """From the command's units, checked and rounded to whole microseconds; a bad value
        raises ScenarioError naming its option. `Dispatch.from_units(0.5).poll_interval_us ==
        500_000`."""
        check_within("poll_interval_s", poll_interval_s, MAX_SECONDS, "s")
        check_within("dispatch_overhead_ms", overhead_ms, MAX_SECONDS * 1_000, "ms")
        check_within("scale_up_lag_s", scale_up_lag_s, MAX_SECONDS, "s")
        if prefetch < 1:
            raise ScenarioError("prefetch", f"must be at least 1, got {prefetch}")
        return cls(
            poll_interval_us=round(poll_interval_s * 1_000_000),
            prefetch=prefetch,
            overhead_us=round(overhead_ms * 1_000),
            scale_up_lag_us=round(scale_up_lag_s * 1_000_000),
        )


@dataclass(frozen=True, slots=True, eq=False)
class Outcome:
    """Start time of every task (same order as the arrivals) and the fleet's history.

    An instance counts as provisioned from `requested_us` (booting costs money) and as serving
    from `live_us`; both end at its entry in `retired_us`. Instances never retired run on.
    """

    start_us: np.ndarray
    requested_us: np.ndarray
    live_us: np.ndarray
    retired_us: np.ndarray


def release_times(scheduled_us: np.ndarray, poll_interval_us: int) -> np.ndarray:
    """When the distributor hands each task to the broker: at the first poll at or after it is
    due, polls falling on whole multiples of the interval from the window start.
    `release_times([0, 1, 1_000_000], 1_000_000) == [0, 1_000_000, 1_000_000]`."""
    if poll_interval_us <= 0:
        return scheduled_us
    return -(-scheduled_us // poll_interval_us) * poll_interval_us
