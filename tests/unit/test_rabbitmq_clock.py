"""The RabbitMQ broker reads time from the clock it is given: a delay queue is declared again
only once a quarter of its idle expiry has passed, so a waiting message never outlives it."""

from __future__ import annotations

from typing import Any

from engine.adapters.rabbitmq import RETRY_QUEUE_IDLE_MS, RabbitMQBroker


class Clock:
    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        return self.now_s


class Channel:
    """Records the queues declared on it."""

    def __init__(self) -> None:
        self.declared: list[tuple[str, dict[str, Any]]] = []

    def queue_declare(self, name: str, durable: bool, arguments: dict[str, Any]) -> None:
        self.declared.append((name, arguments))


def test_a_delay_queue_is_declared_again_after_a_quarter_of_its_idle_expiry() -> None:
    clock, channel = Clock(), Channel()
    broker = RabbitMQBroker("amqp://unused", "jobs", monotonic=clock)  # connects on first use only
    quarter_s = RETRY_QUEUE_IDLE_MS / 4000

    name = broker.declare_retry(channel, 4_000)
    clock.now_s += quarter_s
    assert broker.declare_retry(channel, 3_500) == name  # the same tier, within the quarter
    clock.now_s += 0.001
    broker.declare_retry(channel, 4_000)
    broker.declare_retry(channel, 1_000)  # another tier: its own queue, declared at once

    assert [declared for declared, _ in channel.declared] == [name, name, broker.names.retry(1_000)]
    assert channel.declared[0][1]["x-expires"] == 4_000 + RETRY_QUEUE_IDLE_MS
