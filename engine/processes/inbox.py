"""What the consumer and the workers hand to the processor's main thread.

Not a `queue.SimpleQueue`: on CPython 3.11 its `get(timeout=...)`, interrupted by a signal
whose handler runs as the timeout runs out, goes on to wait with a negative timeout, which
means forever. The processor's main thread waits there for most of its life, and SIGTERM is
exactly such a signal: a processor told to stop then hung until killed, its consumer gone
and nothing left to put. `threading.Event.wait` recomputes its timeout after a signal and
gives up when it has passed, and a deque is as cheap to put on as a SimpleQueue.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

Item = TypeVar("Item")


class Inbox(Generic[Item]):
    """Many producers, one consumer (the processor's main thread)."""

    def __init__(self) -> None:
        self._items: deque[Item] = deque()
        self._arrived = threading.Event()

    def put(self, item: Item) -> None:
        self._items.append(item)
        if not self._arrived.is_set():  # set already through a burst: skip the lock
            self._arrived.set()

    def take_all(self, timeout_s: float) -> list[Item]:
        """Everything put so far, waiting up to `timeout_s` when there is nothing yet (an
        empty list when nothing came). The event is cleared before the items are taken, so
        an item put meanwhile either is taken now or sets it again for the next call."""
        if not self._items:
            self._arrived.wait(timeout_s)
        self._arrived.clear()
        taken: list[Item] = []
        while True:
            try:
                taken.append(self._items.popleft())
            except IndexError:
                return taken

    def empty(self) -> bool:
        return not self._items
