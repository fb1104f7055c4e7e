"""The broker behind a URL, opened for one action on dead letters (replay, discard)."""

from __future__ import annotations

from engine.ports import Broker


def open_broker(url: str, queue: str, queue_type: str) -> Broker:
    """The broker of `url`. memory:// (`headway up`) keeps its dead letters inside that
    process, so from any other an empty one stands in: replay and discard then act on the
    rows by id, as `headway dlq` does."""
    if url.startswith("memory://"):
        from engine.adapters.memory_broker import MemoryBroker

        return MemoryBroker()
    from engine.adapters.rabbitmq import RabbitMQBroker

    return RabbitMQBroker(url, queue, queue_type)
