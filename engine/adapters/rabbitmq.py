"""RabbitMQ through pika: the production broker.

Topology, all derived from one base name (`--queue` / `HEADWAY_QUEUE`, see
`engine.core.messages.QueueNames`):

- `<base>`: the durable task queue (quorum by default, `--queue-type classic` possible).
  Quorum queues also get a delivery limit: a message redelivered that often (say, one that
  kills every processor that takes it) is dead-lettered by the broker instead of looping.
- `<base>.retry.<ms>`: durable delay queues, one per delay tier (powers of two seconds,
  `engine.core.messages.delay_tier_ms`), whose TTL dead-letters messages back into `<base>`;
  unused ones expire by themselves. So do the per-millisecond delay queues of earlier
  versions: each was declared with an `x-expires` longer than its TTL, so its messages flow
  back into `<base>` and then the idle queue is deleted by the broker.
- `<base>.dlq`: the dead-letter queue; each message carries its reason in a header.

Messages are persistent and published with `mandatory`; the publisher waits for confirms a
batch at a time. pika's BlockingChannel only offers confirms one message at a time (ten
times slower here), so the publisher asks the underlying channel for asynchronous confirms
and collects them while the batch is in flight.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions

from engine.core.messages import QueueNames, delay_tier_ms
from engine.ports import BrokerUnavailable, DeadLetter, Delivery, Monotonic, OutgoingMessage

log = logging.getLogger("headway.rabbitmq")

REASON_HEADER = "x-headway-reason"
DEAD_AT_HEADER = "x-headway-dead-at"
DELIVERY_LIMIT = 20
RETRY_QUEUE_IDLE_MS = 120_000
CONFIRM_TIMEOUT_S = 30.0
CONFIRM_POLL_S = 0.002
# pika raises these (and OSError subclasses) when the broker or the network goes away.
BROKER_ERRORS: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, OSError)


def _parameters(url: str) -> pika.URLParameters:
    parameters = pika.URLParameters(url)
    parameters.connection_attempts = 1
    parameters.socket_timeout = 5
    parameters.blocked_connection_timeout = 30
    return parameters


class RabbitMQBroker:
    """Not shared between threads: one instance per publishing or consuming thread (the
    Delivery objects it hands out are the exception: they may be settled from any thread)."""

    def __init__(
        self,
        url: str,
        queue_base: str = "headway",
        queue_type: str = "quorum",
        monotonic: Monotonic = time.monotonic,
    ) -> None:
        if queue_type not in ("quorum", "classic"):
            raise ValueError("queue type must be quorum or classic")
        self._url = url
        # The one clock behind the delay queues' re-declaration and the wait for confirms.
        self._monotonic = monotonic
        self.names = QueueNames(queue_base)
        self._queue_type = queue_type
        self._connection: Any = None
        self._channel: Any = None
        self._published = 0  # delivery tags on the publishing channel
        # Delivery tags awaiting their confirm, in ascending order (dicts keep insertion order).
        self._unconfirmed: dict[int, None] = {}
        self._confirms: dict[int, bool] = {}
        self._returned: set[int] = set()
        # The batch in flight: delivery tags by message id, to match returned messages.
        self._tags_by_id: dict[str, list[int]] = {}
        self._declared_retry: dict[str, float] = {}

    # -- topology ---------------------------------------------------------------------------

    def declare(self, channel: Any) -> None:
        """Declare the task queue and the dead-letter queue (idempotent)."""
        arguments: dict[str, Any] = {
            "x-queue-type": self._queue_type,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.names.dead_letters,
        }
        if self._queue_type == "quorum":
            arguments["x-delivery-limit"] = DELIVERY_LIMIT
        channel.queue_declare(self.names.tasks, durable=True, arguments=arguments)
        channel.queue_declare(
            self.names.dead_letters, durable=True, arguments={"x-queue-type": self._queue_type}
        )

    def declare_retry(self, channel: Any, delay_ms: int) -> str:
        """Declare the delay queue of `delay_ms`'s tier and return its name."""
        delay_ms = delay_tier_ms(delay_ms)
        name = self.names.retry(delay_ms)
        # Re-declared now and then: that also keeps an idle queue from expiring under a
        # message still waiting in it.
        if self._monotonic() - self._declared_retry.get(name, -1e9) > RETRY_QUEUE_IDLE_MS / 4000:
            channel.queue_declare(
                name,
                durable=True,
                arguments={
                    "x-queue-type": "classic",
                    "x-message-ttl": delay_ms,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": self.names.tasks,
                    "x-expires": delay_ms + RETRY_QUEUE_IDLE_MS,
                },
            )
            self._declared_retry[name] = self._monotonic()
        return name

    def _connect(self) -> Any:
        try:
            return pika.BlockingConnection(_parameters(self._url))
        except BROKER_ERRORS as error:
            raise BrokerUnavailable(f"cannot connect to RabbitMQ: {error!r}") from error

    # -- publishing -------------------------------------------------------------------------

    def _publishing_channel(self) -> Any:
        if self._channel is not None and self._channel.is_open and self._connection.is_open:
            return self._channel
        self._drop_publisher()
        connection = self._connect()
        try:
            channel = connection.channel()
            self.declare(channel)
            impl = channel._impl  # see the module docstring: asynchronous confirms
            selected = threading.Event()
            impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _frame: selected.set())
            impl.add_on_return_callback(self._on_return)
            while not selected.is_set():
                connection.process_data_events(time_limit=0.1)
        except BROKER_ERRORS as error:
            _close_quietly(connection)
            raise BrokerUnavailable(f"cannot open a publishing channel: {error!r}") from error
        self._connection, self._channel, self._published = connection, channel, 0
        self._confirms, self._returned, self._unconfirmed = {}, set(), {}
        return channel

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        ok = isinstance(method, pika.spec.Basic.Ack)
        if method.multiple:
            # Only the head of the ascending tags: a batch gets many such confirms.
            tags = list(itertools.takewhile(lambda tag: tag <= method.delivery_tag, self._unconfirmed))
        else:
            tags = [method.delivery_tag]
        for tag in tags:
            self._unconfirmed.pop(tag, None)
            self._confirms[tag] = ok

    def _on_return(self, _channel: Any, _method: Any, properties: Any, _body: bytes) -> None:
        # The broker returns an unroutable message before it confirms it: the batch it
        # belongs to is still in flight. Matched by message id rather than by a header, so
        # that every message carries no headers table to encode and decode.
        self._returned.update(self._tags_by_id.get(properties.message_id, ()))

    def publish(self, messages: Sequence[OutgoingMessage]) -> list[bool]:
        channel = self._publishing_channel()
        if not messages:
            # An idle publisher still answers the broker's heartbeats, or the broker drops
            # the connection and the next batch finds out the slow way.
            try:
                self._connection.process_data_events(time_limit=0)
            except BROKER_ERRORS as error:
                self._drop_publisher()
                raise BrokerUnavailable(f"publishing connection lost: {error!r}") from error
            return []
        first = self._published + 1
        tags = list(range(first, first + len(messages)))
        began = time.perf_counter()
        self._tags_by_id = {}
        for tag, message in zip(tags, messages, strict=True):
            self._tags_by_id.setdefault(message.message_id, []).append(tag)
        try:
            impl = channel._impl
            with _one_write(self._connection._impl):
                for tag, message in zip(tags, messages, strict=True):
                    impl.basic_publish(
                        exchange="",
                        routing_key=self.names.tasks,
                        body=message.body,
                        properties=pika.BasicProperties(
                            delivery_mode=pika.DeliveryMode.Persistent,
                            content_type="application/json",
                            message_id=message.message_id,
                        ),
                        mandatory=True,
                    )
                    self._published = tag
                    self._unconfirmed[tag] = None
            written = time.perf_counter()
            deadline = self._monotonic() + CONFIRM_TIMEOUT_S
            while self._unconfirmed and self._monotonic() < deadline:
                # Confirms are handled by the channel's own callback, which does not end
                # pika's wait early: the limit is what a batch waits after its last confirm.
                self._connection.process_data_events(time_limit=CONFIRM_POLL_S)
            log.debug(
                "%d messages written in %.1f ms, confirmed %.1f ms later",
                len(messages),
                (written - began) * 1000,
                (time.perf_counter() - written) * 1000,
            )
        except BROKER_ERRORS as error:
            log.warning("publishing interrupted: %r", error)
            self._drop_publisher()
        results = [self._confirms.pop(tag, False) and tag not in self._returned for tag in tags]
        self._returned.difference_update(tags)
        self._tags_by_id = {}
        if self._unconfirmed:  # timed out: a late confirm must not be taken for a later batch's
            log.warning("%d confirms did not arrive in time", len(self._unconfirmed))
            self._drop_publisher()
        return results

    def _drop_publisher(self) -> None:
        if self._connection is not None:
            _close_quietly(self._connection)
        self._connection = self._channel = None

    # -- consuming --------------------------------------------------------------------------

    def consume(self, on_delivery: Callable[[Delivery], None], prefetch: int, stop: threading.Event) -> None:
        connection = self._connect()
        consumer = _Consumer(self, connection)
        try:
            consumer.run(on_delivery, prefetch, stop)
        except BROKER_ERRORS as error:
            raise BrokerUnavailable(f"consumer connection lost: {error!r}") from error
        finally:
            consumer.alive = False
            _close_quietly(connection)

    # -- dead letters -----------------------------------------------------------------------

    def visit_dead_letters(self, visit: Callable[[DeadLetter], bool], limit: int) -> int:
        connection = self._connect()
        try:
            channel = connection.channel()
            self.declare(channel)
            # Held unacknowledged until the end, so each basic_get returns the next message.
            held: list[tuple[int, DeadLetter]] = []
            while len(held) < limit:
                method, properties, body = channel.basic_get(self.names.dead_letters, auto_ack=False)
                if method is None:
                    break
                held.append((method.delivery_tag, _dead_letter(properties, body)))
            for tag, letter in held:
                if visit(letter):
                    channel.basic_ack(tag)
                else:
                    channel.basic_nack(tag, requeue=True)
            return len(held)
        except BROKER_ERRORS as error:
            raise BrokerUnavailable(f"dead-letter queue unavailable: {error!r}") from error
        finally:
            _close_quietly(connection)

    def queue_counts(self) -> dict[str, tuple[int, int]]:
        """(messages ready, consumers) for the task and dead-letter queues."""
        connection = self._connect()
        try:
            channel = connection.channel()
            counts = {}
            for name in (self.names.tasks, self.names.dead_letters):
                frame = channel.queue_declare(name, passive=True)
                counts[name] = (frame.method.message_count, frame.method.consumer_count)
            return counts
        finally:
            _close_quietly(connection)

    def queue_counts_or_none(self, name: str) -> int | None:
        """Messages ready in queue `name`, or None if it does not exist (yet)."""
        connection = self._connect()
        try:
            frame = connection.channel().queue_declare(name, passive=True)
            return int(frame.method.message_count)
        except pika.exceptions.ChannelClosedByBroker:
            return None
        finally:
            _close_quietly(connection)

    def delete_queues(self, retry_delays_ms: Sequence[int] = ()) -> None:
        """Remove this base name's queues (tests; `headway` never calls it). Delay queues
        not named here expire by themselves once idle."""
        names = {self.names.tasks, self.names.dead_letters, *self._declared_retry}
        names.update(self.names.retry(delay) for delay in retry_delays_ms)
        connection = self._connect()
        try:
            for name in names:
                with contextlib.suppress(pika.exceptions.ChannelClosedByBroker):  # never declared
                    connection.channel().queue_delete(name)
        finally:
            _close_quietly(connection)

    def close(self) -> None:
        self._drop_publisher()


# Frames handed to the transport at once: enough to save the per-frame sends, few enough that
# the first messages of a large batch reach consumers while the rest is being encoded.
FRAMES_PER_WRITE = 300


@contextlib.contextmanager
def _one_write(connection: Any) -> Iterator[None]:
    """Hand the frames emitted meanwhile to pika's transport in a few large buffers. pika
    sends each buffered frame with a `send` call of its own: three per message, a third of
    the publisher's time on 1,000-message batches."""
    frames: list[bytes] = []
    send = connection._adapter_emit_data

    def gather(frame: bytes) -> None:
        frames.append(frame)
        if len(frames) >= FRAMES_PER_WRITE:
            send(b"".join(frames))
            frames.clear()

    connection._adapter_emit_data = gather  # shadows the method for the batch
    try:
        yield
    finally:
        del connection._adapter_emit_data
        if frames:
            send(b"".join(frames))


def _dead_letter(properties: Any, body: bytes) -> DeadLetter:
    headers = properties.headers or {}
    reason = headers.get(REASON_HEADER)
    if reason is None and headers.get("x-death"):  # dead-lettered by the broker itself
        death = headers["x-death"][0]
        reason = f"broker: {_text(death.get('reason'))} in {_text(death.get('queue'))}"
    return DeadLetter(body, _text(reason) or "unknown", _text(headers.get(DEAD_AT_HEADER)) or "")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _close_quietly(connection: Any) -> None:
    try:
        if connection.is_open:
            connection.close()
    except Exception:  # already broken: nothing left to close cleanly
        pass


class _Consumer:
    """One consuming connection. Settling calls from worker threads are queued and carried
    out by the connection's own thread, which pika requires.

    Acknowledgements are gathered and sent together: when every unsettled delivery up to
    tag n is among them, one `basic.ack` with `multiple` covers them all. A delivery is only
    ever acknowledged after its own `ack()` call; the others waiting with it stay unsettled.
    """

    def __init__(self, broker: RabbitMQBroker, connection: Any) -> None:
        self.broker = broker
        self.connection = connection
        self.alive = True
        # Delivery tags not yet settled, in the order the broker sent them (ascending).
        self.unsettled: dict[int, None] = {}
        self.requests: queue.Queue[Callable[[], None]] = queue.Queue()
        self.acks: collections.deque[int] = collections.deque()  # tags, from any thread
        self.woken = threading.Event()

    def run(self, on_delivery: Callable[[Delivery], None], prefetch: int, stop: threading.Event) -> None:
        channel = self.connection.channel()
        self.broker.declare(channel)
        channel.basic_qos(prefetch_count=prefetch)
        self.channel = channel
        self.publisher = self.connection.channel()
        self.publisher.confirm_delivery()  # retries and dead letters: rare, one at a time

        def on_message(_channel: Any, method: Any, _properties: Any, body: bytes) -> None:
            self.unsettled[method.delivery_tag] = None
            on_delivery(RabbitDelivery(self, method.delivery_tag, body, method.redelivered))

        tag = channel.basic_consume(self.broker.names.tasks, on_message, auto_ack=False)
        cancelled = False
        while True:
            if stop.is_set() and not cancelled:
                channel.basic_cancel(tag)
                cancelled = True
            if cancelled and not self.unsettled:
                return
            self.connection.process_data_events(time_limit=0.2)
            self.woken.clear()
            while True:
                try:
                    request = self.requests.get_nowait()
                except queue.Empty:
                    break
                request()
            self.send_acks()

    def send_acks(self) -> None:
        """Acknowledge the gathered tags: one `multiple` ack for the longest run of them at
        the head of the unsettled deliveries, one ack each for the rest."""
        acks: list[int] = []
        while self.acks:
            acks.append(self.acks.popleft())
        if not acks:
            return
        acked = set(acks)
        head = 0
        for tag in self.unsettled:
            if tag not in acked:
                break
            head = tag
        impl = self.channel._impl
        if head:
            impl.basic_ack(head, multiple=True)
        for tag in acks:
            if tag > head:
                impl.basic_ack(tag)
        for tag in acks:
            self.unsettled.pop(tag, None)

    def submit_ack(self, tag: int) -> None:
        if not self.alive:
            return
        self.acks.append(tag)
        self.wake()

    def submit(self, request: Callable[[], None]) -> None:
        if not self.alive:
            return  # the broker requeued everything of this connection already
        self.requests.put(request)
        self.wake()

    def wake(self) -> None:
        # One wake-up per batch of requests: each costs a write to pika's wake-up socket.
        if self.woken.is_set():
            return
        self.woken.set()
        # A closing connection refuses the wake-up; its loop ends and the broker requeues.
        with contextlib.suppress(Exception):
            self.connection.add_callback_threadsafe(lambda: None)

    def settled(self, tag: int) -> None:
        self.unsettled.pop(tag, None)

    def publish_confirmed(self, queue_name: str, body: bytes, headers: dict[str, Any]) -> bool:
        try:
            self.publisher.basic_publish(
                exchange="",
                routing_key=queue_name,
                body=body,
                properties=pika.BasicProperties(
                    delivery_mode=pika.DeliveryMode.Persistent,
                    content_type="application/json",
                    headers=headers,
                ),
                mandatory=True,
            )
            return True
        except (pika.exceptions.NackError, pika.exceptions.UnroutableError) as error:
            log.warning("broker refused a message for %s: %r", queue_name, error)
            return False


class RabbitDelivery:
    def __init__(self, consumer: _Consumer, tag: int, body: bytes, redelivered: bool) -> None:
        self._consumer = consumer
        self._tag = tag
        self.body = body
        self.redelivered = redelivered

    def ack(self) -> None:
        self._consumer.submit_ack(self._tag)

    def requeue(self) -> None:
        self._consumer.submit(self._requeue)

    def retry(self, body: bytes, delay_ms: int) -> None:
        def request() -> None:
            name = self._consumer.broker.declare_retry(self._consumer.publisher, delay_ms)
            if self._consumer.publish_confirmed(name, body, {}):
                self._ack()
            else:
                self._requeue()

        self._consumer.submit(request)

    def dead_letter(self, body: bytes, reason: str) -> None:
        def request() -> None:
            headers = {REASON_HEADER: reason, DEAD_AT_HEADER: datetime.now(UTC).isoformat()}
            if self._consumer.publish_confirmed(self._consumer.broker.names.dead_letters, body, headers):
                self._ack()
            else:
                self._requeue()

        self._consumer.submit(request)

    # On the underlying channel: the frame goes out with the loop's next write rather than in
    # a flush of its own.
    def _ack(self) -> None:
        self._consumer.channel._impl.basic_ack(self._tag)
        self._consumer.settled(self._tag)

    def _requeue(self) -> None:
        self._consumer.channel._impl.basic_nack(self._tag, requeue=True)
        self._consumer.settled(self._tag)
