"""The in-process broker keeps the semantics the processes rely on."""

from __future__ import annotations

import threading

from engine.adapters.memory_broker import MemoryBroker
from engine.ports import Delivery, OutgoingMessage


def take(broker: MemoryBroker, prefetch: int, count: int) -> list[Delivery]:
    got: list[Delivery] = []
    stop = threading.Event()

    def on_delivery(delivery: Delivery) -> None:
        got.append(delivery)
        if len(got) >= count:
            stop.set()

    thread = threading.Thread(target=broker.consume, args=(on_delivery, prefetch, stop))
    thread.start()
    stop.wait(0.3)  # only a test expecting fewer than `count` waits this long
    stop.set()
    thread.join(2)
    return got


def test_prefetch_bounds_unsettled_deliveries() -> None:
    broker = MemoryBroker()
    broker.publish([OutgoingMessage(str(i).encode(), str(i)) for i in range(5)])
    assert len(take(broker, prefetch=2, count=5)) == 2
    assert broker.counts()["unsettled"] == 2


def test_requeue_redelivers_first_and_marks_it() -> None:
    broker = MemoryBroker()
    broker.publish([OutgoingMessage(b"a", "a"), OutgoingMessage(b"b", "b")])
    [first] = take(broker, prefetch=1, count=1)
    first.requeue()
    [again] = take(broker, prefetch=1, count=1)
    assert (again.body, again.redelivered) == (b"a", True)


def test_retry_waits_for_its_delay_on_the_injected_clock() -> None:
    now = [100.0]
    broker = MemoryBroker(monotonic=lambda: now[0])
    broker.publish([OutgoingMessage(b"x", "x")])
    [delivery] = take(broker, prefetch=1, count=1)
    delivery.retry(b"x2", 5_000)
    assert broker.counts() == {"ready": 0, "delayed": 1, "unsettled": 0, "dead": 0}
    assert take(broker, prefetch=1, count=1) == []
    now[0] += 5.0
    [later] = take(broker, prefetch=1, count=1)
    assert later.body == b"x2"


def test_dead_letters_are_listed_and_removed_by_the_visitor() -> None:
    broker = MemoryBroker()
    broker.publish([OutgoingMessage(b"p", "p"), OutgoingMessage(b"q", "q")])
    for delivery in take(broker, prefetch=2, count=2):
        delivery.dead_letter(delivery.body, f"reason {delivery.body.decode()}")
    assert broker.visit_dead_letters(lambda letter: letter.body == b"p", 10) == 2
    reasons: list[str] = []
    broker.visit_dead_letters(lambda letter: reasons.append(letter.reason) or False, 10)
    assert reasons == ["reason q"]


def test_settling_twice_counts_once() -> None:
    broker = MemoryBroker()
    broker.publish([OutgoingMessage(b"a", "a")])
    [delivery] = take(broker, prefetch=1, count=1)
    delivery.ack()
    delivery.ack()
    assert broker.counts()["unsettled"] == 0
