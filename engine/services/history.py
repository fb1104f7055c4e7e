"""The Scheduler's periodic history step: roll up the recorded runs, then prune what the
retention allows (engine.adapters.history_store)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from engine.adapters.forecast_accuracy_store import prune_snapshots_before
from engine.adapters.history_store import PRUNE_BATCH_ROWS, prune_history
from engine.core.retention import retention_cutoff

log = logging.getLogger("headway.history")

# Seconds between two history steps. At 10 million runs a day five minutes is some 35,000
# runs to roll up and as many rows to prune: a few seconds of the Scheduler's time.
PRUNE_INTERVAL_S = 300.0
# Batches per step, so that one step never keeps the Scheduler from its passes for long
# (a backlog, say after lowering the retention, is worked off over several steps).
PRUNE_MAX_BATCHES = 40


class PruneStep:
    """Called after each Scheduler pass with its `now`: every `interval_s` (on the monotonic
    clock `monotonic`, injectable for tests) it rolls up and prunes rows finished more than
    `retention_days` ago, and the forecast snapshots of minutes that long ago. A failure is
    logged and tried again at the next interval; it never stops the Scheduler."""

    def __init__(
        self,
        engine: Engine,
        retention_days: int,
        interval_s: float = PRUNE_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
        batch_rows: int = PRUNE_BATCH_ROWS,
        max_batches: int = PRUNE_MAX_BATCHES,
    ) -> None:
        if retention_days < 1:
            raise ValueError(f"retention_days must be at least 1, got {retention_days}")
        self._engine = engine
        self._retention = timedelta(days=retention_days)
        self._interval_s = interval_s
        self._monotonic = monotonic
        self._batch_rows = batch_rows
        self._max_batches = max_batches
        self._next: float | None = None

    def __call__(self, now: datetime) -> None:
        if self._next is not None and self._monotonic() < self._next:
            return
        self._next = self._monotonic() + self._interval_s
        try:
            prune_history(self._engine, now, self._retention, self._batch_rows, self._max_batches)
            prune_snapshots_before(self._engine, retention_cutoff(now, self._retention))
        except Exception as error:
            log.warning("history roll-up and prune failed: %s: %s", error.__class__.__name__, error)
