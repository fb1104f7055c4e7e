"""The RabbitMQ broker adapter against the real server, on queues of this test alone."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from engine.adapters.rabbitmq import RabbitMQBroker
from engine.ports import BrokerUnavailable, DeadLetter, Delivery, OutgoingMessage

pytestmark = pytest.mark.integration

UNREACHABLE_URL = "amqp://guest:guest@127.0.0.1:1/%2F"


def consume(broker: RabbitMQBroker, handle: Callable[[Delivery], None], until: Callable[[], bool]) -> None:
    stop = threading.Event()

    def on_delivery(delivery: Delivery) -> None:
        handle(delivery)
        if until():
            stop.set()

    thread = threading.Thread(target=broker.consume, args=(on_delivery, 50, stop))
    thread.start()
    thread.join(30)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize("queue_type", ["quorum", "classic"])
def test_batch_is_confirmed_and_consumed_once(amqp_url: str, queue_base: str, queue_type: str) -> None:
    publisher = RabbitMQBroker(amqp_url, queue_base, queue_type)
    messages = [OutgoingMessage(f"m{i}".encode(), str(i)) for i in range(1_200)]
    assert publisher.publish(messages[:700]) == [True] * 700
    assert publisher.publish(messages[700:]) == [True] * 500
    publisher.close()
    seen: list[bytes] = []

    def ack(delivery: Delivery) -> None:
        seen.append(delivery.body)
        delivery.ack()

    consume(RabbitMQBroker(amqp_url, queue_base, queue_type), ack, lambda: len(seen) == 1_200)
    assert sorted(seen) == sorted(m.body for m in messages)
    assert RabbitMQBroker(amqp_url, queue_base, queue_type).queue_counts()[queue_base] == (0, 0)


def test_unroutable_messages_are_reported_unconfirmed(amqp_url: str, queue_base: str) -> None:
    publisher = RabbitMQBroker(amqp_url, queue_base)
    assert publisher.publish([OutgoingMessage(b"first", "1")]) == [True]
    RabbitMQBroker(amqp_url, queue_base).delete_queues()  # the queue vanishes under the publisher
    assert publisher.publish([OutgoingMessage(b"lost", "2"), OutgoingMessage(b"lost", "3")]) == [False, False]
    publisher.close()


def test_retry_comes_back_after_its_delay_and_dead_letters_keep_their_reason(
    amqp_url: str, queue_base: str
) -> None:
    broker = RabbitMQBroker(amqp_url, queue_base)
    broker.publish([OutgoingMessage(b"retry me", "1"), OutgoingMessage(b"bury me", "2")])
    seen: list[tuple[bytes, bool]] = []

    def handle(delivery: Delivery) -> None:
        seen.append((delivery.body, delivery.redelivered))
        if delivery.body == b"retry me":
            delivery.retry(b"retried", 200)
        elif delivery.body == b"bury me":
            delivery.dead_letter(delivery.body, "gave up: HTTP 500")
        else:
            delivery.ack()

    consume(broker, handle, lambda: len(seen) == 3)
    assert [body for body, _ in seen] == [b"retry me", b"bury me", b"retried"]
    letters: list[DeadLetter] = []
    assert broker.visit_dead_letters(lambda letter: letters.append(letter) or False, 10) == 1
    assert (letters[0].body, letters[0].reason) == (b"bury me", "gave up: HTTP 500")
    assert broker.visit_dead_letters(lambda letter: True, 10) == 1  # removed
    assert broker.visit_dead_letters(lambda letter: True, 10) == 0
    broker.delete_queues([200])


def test_requeued_message_comes_back_redelivered(amqp_url: str, queue_base: str) -> None:
    broker = RabbitMQBroker(amqp_url, queue_base)
    broker.publish([OutgoingMessage(b"again", "1")])
    seen: list[bool] = []

    def handle(delivery: Delivery) -> None:
        seen.append(delivery.redelivered)
        delivery.ack() if seen[1:] else delivery.requeue()

    consume(broker, handle, lambda: len(seen) == 2)
    assert seen == [False, True]


def test_acks_settle_only_their_own_messages(amqp_url: str, queue_base: str) -> None:
    # Acks gathered together go out as one `multiple` ack where they can; one message in
    # the middle, requeued instead, must still come back.
    broker = RabbitMQBroker(amqp_url, queue_base)
    broker.publish([OutgoingMessage(f"m{i}".encode(), str(i)) for i in range(5)])
    held: list[Delivery] = []
    seen: list[tuple[bytes, bool]] = []

    def handle(delivery: Delivery) -> None:
        seen.append((delivery.body, delivery.redelivered))
        held.append(delivery)
        if len(held) == 5:
            for index in (4, 0, 3, 1):
                held[index].ack()
            held[2].requeue()
        elif len(held) > 5:
            delivery.ack()

    consume(broker, handle, lambda: len(seen) == 6)
    assert seen[5] == (b"m2", True)
    assert broker.queue_counts()[queue_base] == (0, 0)


def test_empty_publish_opens_the_connection_and_declares_the_queues(amqp_url: str, queue_base: str) -> None:
    publisher = RabbitMQBroker(amqp_url, queue_base)
    assert publisher.queue_counts_or_none(queue_base) is None
    assert publisher.publish([]) == []
    assert publisher.queue_counts()[queue_base] == (0, 0)
    assert publisher.publish([]) == []  # kept alive, and the next batch goes out on it
    assert publisher.publish([OutgoingMessage(b"first", "1")]) == [True]
    assert publisher.queue_counts()[queue_base] == (1, 0)
    publisher.close()


def test_empty_publish_to_an_unreachable_broker_raises_unavailable() -> None:
    with pytest.raises(BrokerUnavailable):
        RabbitMQBroker(UNREACHABLE_URL, "headway-unreachable").publish([])


def test_large_batch_is_confirmed_in_full(amqp_url: str, queue_base: str) -> None:
    # Thousands of messages: the broker confirms many at once (`multiple`), and the frames
    # go out in chunks.
    publisher = RabbitMQBroker(amqp_url, queue_base)
    messages = [OutgoingMessage(f"m{i}".encode(), str(i)) for i in range(2_500)]
    assert publisher.publish(messages) == [True] * 2_500
    assert publisher.publish(messages[:1]) == [True]  # no confirm of the big batch left over
    publisher.close()
    assert publisher.queue_counts()[queue_base] == (2_501, 0)
