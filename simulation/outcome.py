"""What one simulation run produces, whichever engine ran it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.defaults import ENGINE_DEFAULTS
from simulation.limits import MAX_SECONDS, ScenarioError, check_within


@dataclass(frozen=True, slots=True, eq=False)
class Dispatch:
    """How tasks reach processors and run there; the defaults are the engine's
    (`simulation.defaults.ENGINE_DEFAULTS`).

    An instance is one processor with `concurrency` worker slots; it holds at most
    `concurrency x prefetch` unacknowledged tasks, as the engine's processor does. A failed
    attempt is sent again `compute_backoff_ms(attempt, retry_base_ms, retry_max_ms)` after it
    ends.
    """

    poll_interval_us: int = round(ENGINE_DEFAULTS.poll_interval_s * 1_000_000)
    prefetch: int = ENGINE_DEFAULTS.prefetch
    overhead_us: int = round(ENGINE_DEFAULTS.dispatch_overhead_ms * 1_000)
    scale_up_lag_us: int = 0
    concurrency: int = ENGINE_DEFAULTS.concurrency
    retry_base_ms: int = ENGINE_DEFAULTS.retry_base_ms
    retry_max_ms: int = ENGINE_DEFAULTS.retry_max_ms
    # From due (after the poll) to the broker: the distributor's reaction, 0 unless calibrated.
    release_delay_us: int = 0

    @property
    def unsettled_limit(self) -> int:
        """Tasks one processor holds: `concurrency x prefetch`, as `ProcessorConfig`."""
        return self.concurrency * self.prefetch

    @classmethod
    def from_units(
        cls,
        poll_interval_s: float = ENGINE_DEFAULTS.poll_interval_s,
        prefetch: int = ENGINE_DEFAULTS.prefetch,
        overhead_ms: float = ENGINE_DEFAULTS.dispatch_overhead_ms,
        scale_up_lag_s: float = 0.0,
        concurrency: int = ENGINE_DEFAULTS.concurrency,
        retry_base_ms: int = ENGINE_DEFAULTS.retry_base_ms,
        retry_max_ms: int = ENGINE_DEFAULTS.retry_max_ms,
        release_delay_ms: float = 0.0,
    ) -> Dispatch:
        """From the command's units, checked and rounded to whole microseconds; a bad value
        raises ScenarioError naming its option. `Dispatch.from_units(0.5).poll_interval_us ==
        500_000`."""
        check_within("poll_interval_s", poll_interval_s, MAX_SECONDS, "s")
        check_within("dispatch_overhead_ms", overhead_ms, MAX_SECONDS * 1_000, "ms")
        check_within("scale_up_lag_s", scale_up_lag_s, MAX_SECONDS, "s")
        check_within("release_delay_ms", release_delay_ms, MAX_SECONDS * 1_000, "ms")
        if prefetch < 1:
            raise ScenarioError("prefetch", f"must be at least 1, got {prefetch}")
        if not 1 <= concurrency <= 1_000:
            raise ScenarioError("concurrency", f"must be in [1, 1,000], got {concurrency}")
        for name, value in (("retry_base_ms", retry_base_ms), ("retry_max_ms", retry_max_ms)):
            check_within(name, value, MAX_SECONDS * 1_000, "ms")
        return cls(
            poll_interval_us=round(poll_interval_s * 1_000_000),
            prefetch=prefetch,
            overhead_us=round(overhead_ms * 1_000),
            scale_up_lag_us=round(scale_up_lag_s * 1_000_000),
            concurrency=concurrency,
            retry_base_ms=int(retry_base_ms),
            retry_max_ms=int(retry_max_ms),
            release_delay_us=round(release_delay_ms * 1_000),
        )


@dataclass(frozen=True, slots=True, eq=False)
class Outcome:
    """Start time of every task (same order as the arrivals) and the fleet's history.

    An instance counts as provisioned from `requested_us` (booting costs money) and as serving
    from `live_us`; both end at its entry in `retired_us`. Instances never retired run on.
    `start_us` is each task's first attempt; `last_finish_us` the end of the last attempt of
    any task.
    """

    start_us: np.ndarray
    requested_us: np.ndarray
    live_us: np.ndarray
    retired_us: np.ndarray
    last_finish_us: int = 0


def release_times(
    scheduled_us: np.ndarray,
    poll_interval_us: int,
    release_delay_us: int = 0,
    immediate: np.ndarray | None = None,
) -> np.ndarray:
    """When the distributor hands each task to the broker, plus a fixed `release_delay_us`.

    The engine's distributor sleeps until the next due row it knows of, or the poll interval,
    whichever is sooner: a task scheduled ahead (cron, run_at) is released when due. An
    `immediate` task is created while it sleeps, so it waits for the next poll (polls on whole
    multiples of the interval from the window start; on PostgreSQL a NOTIFY wakes the
    distributor at once: model that with a poll interval of 0). Without `immediate` every task
    waits for a poll, the model of a distributor that does not know when rows are due.
    `release_times([0, 1, 1_000_000], 1_000_000) == [0, 1_000_000, 1_000_000]`, and with
    `immediate=[False, False, True]` it is `[0, 1, 1_000_000]`."""
    if poll_interval_us > 0:
        polled = -(-scheduled_us // poll_interval_us) * poll_interval_us
        scheduled_us = polled if immediate is None else np.where(immediate, polled, scheduled_us)
    return scheduled_us + release_delay_us if release_delay_us else scheduled_us
