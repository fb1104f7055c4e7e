"""The processor's consumer: takes messages from the broker on a thread of its own.

It hands every delivery to a callback (the coordinator's inbox) and does nothing else; a lost
broker connection is retried with backoff until `stop` is set.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from engine.core.retry import Backoff
from engine.ports import Broker, BrokerUnavailable, Delivery

log = logging.getLogger("headway.processor")

MAX_BACKOFF_S = 5.0


class Consumer:
    def __init__(
        self, broker: Broker, on_delivery: Callable[[Delivery], None], prefetch: int, stop: threading.Event
    ) -> None:
        self._broker = broker
        self._on_delivery = on_delivery
        self._prefetch = prefetch
        self._stop = stop
        self._thread = threading.Thread(target=self._loop, name="headway-consumer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for consuming to end; whether it did. It ends once `stop`
        is set and every delivery is settled; one left unsettled goes back to the queue when
        the process exits and its connection closes."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        backoff = Backoff(0.2, MAX_BACKOFF_S)
        while not self._stop.is_set():
            try:
                self._broker.consume(self._on_delivery, self._prefetch, self._stop)
                backoff.reset()
            except BrokerUnavailable as error:
                delay_s = backoff.next_s()
                log.warning("broker unavailable (%s); reconnecting in %.1f s", error, delay_s)
                self._stop.wait(delay_s)
