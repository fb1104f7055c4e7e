"""What the processes need from the outside, as small Protocols. Adapters implement them:
`engine.adapters.rabbitmq` and `engine.adapters.memory_broker` the Broker, the handler
registry the handlers. A Kafka broker would implement `Broker` and `Delivery` alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from engine.core.execution import TaskContext

Clock = Callable[[], datetime]
# Called by a process's loop after each step: True when the step did its work, False when it
# failed. The health endpoint (`engine.adapters.health_server.LoopProgress`) reads it.
Progress = Callable[[bool], None]
# Seconds on a clock that never goes back (time.monotonic): for timeouts, graces and pacing
# inside the loops, injected so that tests can move it.
Monotonic = Callable[[], float]


class BrokerUnavailable(ConnectionError):
    """The broker cannot be reached now; the caller backs off and tries again."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    body: bytes
    message_id: str  # the idempotency key, also set as the broker's message id


@dataclass(frozen=True, slots=True)
class DeadLetter:
    body: bytes
    reason: str
    dead_lettered_at: str  # ISO-8601, as the broker stored it


class Delivery(Protocol):
    """One message handed to a consumer. Exactly one settling call ends it; each may be
    called from any thread. After the consumer's connection was lost a settling call does
    nothing: the broker has already given the message to someone else."""

    body: bytes
    redelivered: bool

    def ack(self) -> None:
        """Done with it: remove it from the queue."""

    def requeue(self) -> None:
        """Give it back to the queue now, for this or another consumer."""

    def retry(self, body: bytes, delay_ms: int) -> None:
        """Publish `body` to come back to the task queue after `delay_ms`, wait for the broker
        to confirm it, then ack this delivery. Never sleeps holding the message."""

    def dead_letter(self, body: bytes, reason: str) -> None:
        """Publish `body` with `reason` to the dead-letter queue (confirmed), then ack."""


class Broker(Protocol):
    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        """Publish persistent messages to the task queue and wait for the broker to confirm
        them as a batch. Returns, per message, whether the broker took responsibility for it
        (False: nacked, unroutable, or the connection dropped first). Raises
        BrokerUnavailable if it could not even start. An empty batch only makes sure the
        connection is open and kept alive, so that the next batch does not wait for it."""

    def consume(self, on_delivery: Callable[[Delivery], None], prefetch: int, stop: threading.Event) -> None:
        """Deliver messages to `on_delivery` (called on the broker's thread, so it must return
        quickly) with at most `prefetch` unsettled at once, until `stop` is set. Raises
        BrokerUnavailable when the connection is lost; unsettled deliveries then go back
        to the queue."""

    def visit_dead_letters(self, visit: Callable[[DeadLetter], bool], limit: int) -> int:
        """Show up to `limit` dead letters to `visit`; those it returns True for are removed.
        Returns how many were shown."""

    def close(self) -> None: ...


class Handler(Protocol):
    """Runs one attempt. Returns an output excerpt on success; raises TaskFailed (or any
    exception, taken as a retryable failure) otherwise."""

    def __call__(self, context: TaskContext) -> str | None: ...
