"""The in-process broker: the embedded mode's queue and the fast tests' stand-in for RabbitMQ.

It keeps the semantics the processes rely on: manual ack, requeue (marked redelivered),
a prefetch limit, delayed retry, and a dead-letter queue that can be listed and replayed.
It keeps nothing across a restart; `headway up` recovers in-flight rows from the database
at start-up instead (see `engine.adapters.distribution_store.recover_in_flight`).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from engine.ports import DeadLetter, Delivery, OutgoingMessage

# The consume loop looks at the delay heap at least this often.
TICK_S = 0.05


@dataclass
class _Message:
    body: bytes
    redelivered: bool = False


@dataclass(order=True)
class _Delayed:
    due: float
    seq: int
    body: bytes = field(compare=False)


class MemoryDelivery:
    def __init__(self, broker: MemoryBroker, message: _Message) -> None:
        self._broker = broker
        self._message = message
        self._settled = False
        self.body = message.body
        self.redelivered = message.redelivered

    def _settle(self) -> bool:
        with self._broker._lock:
            if self._settled:
                return False
            self._settled = True
            self._broker._unsettled -= 1
            self._broker._changed.notify_all()
            return True

    def ack(self) -> None:
        self._settle()

    def requeue(self) -> None:
        if self._settle():
            with self._broker._lock:
                self._broker._ready.appendleft(_Message(self.body, redelivered=True))
                self._broker._changed.notify_all()

    def retry(self, body: bytes, delay_ms: int) -> None:
        self._broker._delay(body, delay_ms)
        self._settle()

    def dead_letter(self, body: bytes, reason: str) -> None:
        with self._broker._lock:
            self._broker._dead.append(DeadLetter(body, reason, datetime.now(UTC).isoformat()))
        self._settle()


class MemoryBroker:
    """Thread-safe; any number of publishers and consumers in one process."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._ready: deque[_Message] = deque()
        self._delayed: list[_Delayed] = []
        self._dead: list[DeadLetter] = []
        self._unsettled = 0
        self._seq = itertools.count()

    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        with self._lock:
            self._ready.extend(_Message(m.body) for m in messages)
            self._changed.notify_all()
        return [True] * len(messages)

    def consume(self, on_delivery: Callable[[Delivery], None], prefetch: int, stop: threading.Event) -> None:
        while not stop.is_set():
            batch: list[MemoryDelivery] = []
            with self._lock:
                self._release_due()
                while self._ready and self._unsettled < prefetch:
                    self._unsettled += 1
                    batch.append(MemoryDelivery(self, self._ready.popleft()))
                if not batch:
                    self._changed.wait(TICK_S)
            for delivery in batch:
                on_delivery(delivery)

    def visit_dead_letters(self, visit: Callable[[DeadLetter], bool], limit: int) -> int:
        with self._lock:
            shown = self._dead[:limit]
        removed = [letter for letter in shown if visit(letter)]
        with self._lock:
            for letter in removed:
                self._dead.remove(letter)
        return len(shown)

    def close(self) -> None:
        pass

    def counts(self) -> dict[str, int]:
        """Messages ready, delayed, unsettled and dead: for tests and the embedded mode's log."""
        with self._lock:
            return {
                "ready": len(self._ready),
                "delayed": len(self._delayed),
                "unsettled": self._unsettled,
                "dead": len(self._dead),
            }

    def _delay(self, body: bytes, delay_ms: int) -> None:
        with self._lock:
            heapq.heappush(
                self._delayed, _Delayed(self._monotonic() + delay_ms / 1000, next(self._seq), body)
            )
            self._changed.notify_all()

    def _release_due(self) -> None:
        now = self._monotonic()
        while self._delayed and self._delayed[0].due <= now:
            self._ready.append(_Message(heapq.heappop(self._delayed).body))
