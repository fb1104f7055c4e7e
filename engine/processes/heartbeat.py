"""The processor's heartbeat: its `processor_heartbeats` row and the leases of its rows.

Every `heartbeat_s` it upserts the row (forgetting processors not seen for a minute) and
renews the lease of each row the processor holds, so that other processors leave them alone
and the reconciliation does not take them over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from engine.adapters.database import describe_database_error
from engine.core.leases import lease_until
from engine.core.runs import Heartbeat
from engine.ports import Clock, Progress, RunStore

log = logging.getLogger("headway.processor")

# A processor whose heartbeat is this old is gone (killed without removing its row).
FORGET_AFTER_S = 60.0


class HeartbeatThread:
    def __init__(
        self,
        store: RunStore,
        processor_id: str,
        concurrency: int,
        lease_s: float,
        heartbeat_s: float,
        clock: Clock,
        held_ids: Callable[[], list[int]],
        progress: Progress | None = None,
    ) -> None:
        self._store = store
        self._processor_id = processor_id
        self._concurrency = concurrency
        self._lease_s = lease_s
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self._held_ids = held_ids
        # Told after each heartbeat whether it reached the database (the health endpoint).
        self._progress = progress or (lambda ok: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="headway-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        started_at = self._clock()
        heartbeat = Heartbeat(
            self._processor_id, socket.gethostname(), os.getpid(), self._concurrency, started_at
        )
        forget_after = timedelta(seconds=max(FORGET_AFTER_S, 10 * self._heartbeat_s))
        while True:
            self.beat(heartbeat, self._clock(), forget_after)
            if self._stop.wait(self._heartbeat_s):
                return

    def beat(self, heartbeat: Heartbeat, now: datetime, forget_after: timedelta) -> None:
        try:
            self._store.beat(
                heartbeat, now, now - forget_after, self._held_ids(), lease_until(now, self._lease_s)
            )
        except Exception as error:
            self._progress(False)
            log.warning("heartbeat failed: %s", describe_database_error(error))
        else:
            self._progress(True)
