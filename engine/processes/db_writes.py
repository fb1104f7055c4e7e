"""Store writes for a long-running loop: wait out outages, report everything else.

A write that fails because the database is away (`StoreUnavailable`) is tried
again with backoff until it succeeds or the caller's deadline passes. A write that fails for
what it writes (a value out of range, a broken constraint) is raised at once: trying the same
again would fail the same way, and the caller must isolate the row at fault
(`engine.processes.processor`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from engine.core.retry import Backoff
from engine.ports import Monotonic, StoreUnavailable

log = logging.getLogger("headway.processor")

T = TypeVar("T")
MAX_BACKOFF_S = 5.0


class Writes:
    def __init__(
        self,
        monotonic: Monotonic = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep

    def run(
        self,
        work: Callable[[], T],
        deadline: Callable[[], float | None] = lambda: None,
        attempts: int | None = None,
    ) -> T | None:
        """`work()`, one store call. While the database is away it is tried
        again, after 0.1 s, 0.2 s, ... up to 5 s, until the monotonic instant `deadline()`
        (None: no deadline; asked after each failure, as it may be set meanwhile) or after
        `attempts` tries: then None. Any other error is raised."""
        backoff = Backoff(0.1, MAX_BACKOFF_S)
        tried = 0
        while True:
            try:
                return work()
            except StoreUnavailable as error:
                tried += 1
                end = deadline()
                now = self._monotonic()
                if (attempts is not None and tried >= attempts) or (end is not None and now >= end):
                    log.error("database write abandoned after %d tries: %s", tried, error)
                    return None
                delay_s = backoff.next_s() if end is None else min(backoff.next_s(), end - now)
                log.warning("database unavailable (%s); retrying in %.1f s", error, delay_s)
                self._sleep(delay_s)
