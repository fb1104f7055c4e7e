"""The Distributor: publishes due schedule rows to the broker.

Ordering, chosen so that killing it at any instant loses nothing:

1. claim: in one transaction, due `Scheduled` rows become `Queued`, claimed by this
   distributor with a lease (`FOR UPDATE SKIP LOCKED`, so distributors claim disjoint rows);
   commit;
2. publish every claimed row as a persistent message and wait for the broker's confirms for
   the whole batch;
3. rows whose publish failed (broker down, nack, unroutable) go back to `Scheduled`, if
   still claimed by this distributor, for the next loop; confirmed rows drop their lease
   (handed over) once half of it has passed, those not started by then: a processor
   that starts a row replaces the lease with its own, so in a burst nearly every row
   needs no hand-over write at all.

A crash after 1 leaves leased `Queued` rows: the sweep (every loop, in every distributor)
returns them to `Scheduled` once the lease lapses.

Every `reconcile_interval_s` the loop also reconciles (`engine.core.reconcile`): rows that
stopped moving whatever the broker lost (`Queued` and never started, `Running` under an
expired lease, a retry long overdue) go back to `Scheduled` and are published again with
the same idempotency key. It runs here because the distributor is the process that turns
`Scheduled` rows into messages; with several distributors each reconciles, and conditional
updates let only one of them move a given row. A crash between a confirm and the
hand-over of a row no processor has started yet is the one way to publish a row twice;
both messages carry the row id, and the processor that gets the second finds the row
started or finished and drops it (`engine.core.leases`).
"""

from __future__ import annotations

import collections
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from engine.adapters.sql_stores import SqlDistributionStore, SqlReconcileStore
from engine.core.leases import lease_until
from engine.core.messages import encode_message
from engine.core.reconcile import StuckWatch, stuck_kind
from engine.core.retry import Backoff
from engine.ports import (
    Broker,
    BrokerUnavailable,
    Clock,
    DistributionStore,
    Monotonic,
    OutgoingMessage,
    Progress,
    ReconcileStore,
)

log = logging.getLogger("headway.distributor")

MAX_BACKOFF_S = 5.0
# A confirmed batch is handed over once this share of its lease has passed: late enough that
# processors have started its rows, early enough that the lease cannot lapse first.
HAND_OVER_AFTER = 0.5


@dataclass(frozen=True, slots=True)
class DistributorConfig:
    distributor_id: str
    batch_size: int = 1_000
    poll_interval_s: float = 0.5
    lease_s: float = 30.0
    # How often stuck rows are looked for; a row is driven on when two looks this far apart
    # saw it stuck and unchanged.
    reconcile_interval_s: float = 10.0
    # A handed-over Queued row (or an overdue retry) is stuck after this long.
    reconcile_queued_after_s: float = 600.0
    reconcile_batch: int = 1_000


def new_distributor_id() -> str:
    return f"distributor:{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


@dataclass(frozen=True, slots=True)
class LoopResult:
    claimed: int
    published: int
    released: int
    swept: int
    next_due: datetime | None
    redriven: int = 0


class Distributor:
    def __init__(
        self,
        engine: Engine | None,
        broker: Broker,
        config: DistributorConfig,
        clock: Clock = lambda: datetime.now(UTC),
        monotonic: Monotonic = time.monotonic,
        *,
        store: DistributionStore | None = None,
        reconcile_store: ReconcileStore | None = None,
    ) -> None:
        """`engine` is the database the default stores use; with both stores given it may be
        None."""
        if store is None or reconcile_store is None:
            if engine is None:
                raise ValueError("engine: a database engine is required unless both stores are given")
            store = store or SqlDistributionStore(engine)
            reconcile_store = reconcile_store or SqlReconcileStore(engine)
        self._store = store
        self._reconcile_store = reconcile_store
        self._broker = broker
        self._config = config
        self._clock = clock
        self._monotonic = monotonic
        # Confirmed batches whose hand-over waits: (monotonic instant it is due, row ids).
        self._confirmed: collections.deque[tuple[float, list[int]]] = collections.deque()
        self._stuck = StuckWatch(config.reconcile_interval_s)
        self._next_reconcile = -math.inf

    def reconcile(self, now: datetime) -> int:
        """Look for rows that stopped moving; drive on those seen stuck and unchanged one
        interval ago. Returns how many went back to `Scheduled` (claimed by the next loop)."""
        config = self._config
        candidates = self._reconcile_store.find_stuck_rows(
            now, config.reconcile_queued_after_s, config.reconcile_batch
        )
        stuck = {
            row.id: kind
            for row in candidates
            if (kind := stuck_kind(row, now, config.reconcile_queued_after_s))
        }
        confirmed = self._stuck.confirm([row for row in candidates if row.id in stuck], self._monotonic())
        # Each row is changed only if still as seen, so the find and the change need not
        # share a transaction.
        changed = self._reconcile_store.redrive_rows([(row, stuck[row.id]) for row in confirmed])
        if changed:
            log.warning(
                "reconciliation drove on %d rows that had stopped moving: %s",
                sum(changed.values()),
                ", ".join(f"{count} {kind.value}" for kind, count in sorted(changed.items())),
            )
        return sum(changed.values())

    def _reconcile_if_due(self, now: datetime) -> int:
        at = self._monotonic()
        if at < self._next_reconcile:
            return 0
        self._next_reconcile = at + self._config.reconcile_interval_s
        return self.reconcile(now)

    def run_once(self) -> LoopResult:
        """One loop at the clock's `now`: sweep expired claims, claim one batch, publish it,
        settle the rows. Raises on a database error (the rows then wait for their lease);
        a broker failure releases the rows and raises BrokerUnavailable."""
        return self._loop(defer_hand_over=False)

    def _loop(self, defer_hand_over: bool) -> LoopResult:
        """`run_once`; with `defer_hand_over` (in `run`), the hand-over of a batch whose
        messages were all confirmed waits until half its lease has passed, and then goes
        with a later loop's claim. By then processors have started nearly all its rows,
        which need no hand-over any more: a burst is published without writing every row
        a second time. Should the process die meanwhile, the leases lapse and the sweep
        republishes the rows still `Queued`, as after a crash between a confirm and the
        hand-over (the processor drops the copy it does not need)."""
        now = self._clock()
        me = self._config.distributor_id
        redriven = self._reconcile_if_due(now)
        claiming_at = self._monotonic()  # the lease runs from here
        due = self._take_hand_overs(claiming_at if defer_hand_over else math.inf)
        try:
            claim = self._store.claim(
                now,
                self._config.batch_size,
                me,
                lease_until(now, self._config.lease_s),
                [row for _, rows in due for row in rows],
            )
        except Exception:
            self._confirmed.extendleft(reversed(due))
            raise
        messages, swept = claim.messages, claim.swept
        if swept:
            log.warning("returned %d rows whose distributor lease expired", swept)
        if claim.skipped:
            log.info("recorded %d fire times Skipped by their task's policies", claim.skipped)
        if not messages:
            if defer_hand_over:
                self._keep_broker_ready()
            return LoopResult(0, 0, 0, swept, self._next_due(), redriven)
        claimed_at = self._monotonic()
        outgoing = [OutgoingMessage(encode_message(m), m.idempotency_key) for m in messages]
        broker_error: BrokerUnavailable | None = None
        try:
            confirmed = self._broker.publish(outgoing)
        except BrokerUnavailable as error:
            confirmed, broker_error = [False] * len(outgoing), error
        published_at = self._monotonic()
        ok = [m.schedule_id for m, good in zip(messages, confirmed, strict=True) if good]
        failed = [m.schedule_id for m, good in zip(messages, confirmed, strict=True) if not good]
        # Handed over later if it can still be done well before the lease lapses; a publish
        # that took that long is settled at once.
        hand_over_at = claiming_at + self._config.lease_s * HAND_OVER_AFTER
        if defer_hand_over and not failed and self._monotonic() < hand_over_at:
            self._confirmed.append((hand_over_at, ok))
            log.debug("batch of %d: publish %.1f ms", len(messages), (published_at - claimed_at) * 1000)
            full = len(messages) >= self._config.batch_size  # a full batch loops again at once
            return LoopResult(len(messages), len(ok), 0, swept, None if full else self._next_due(), redriven)
        # The next row may be due before the poll interval ends: know when to wake.
        released, next_due = self._store.settle(ok, failed, me, self._clock())
        log.debug(
            "batch of %d: publish %.1f ms, settle %.1f ms",
            len(messages),
            (published_at - claimed_at) * 1000,
            (self._monotonic() - published_at) * 1000,
        )
        if failed:
            log.warning("%d of %d messages not confirmed; rows back to Scheduled", len(failed), len(messages))
        if broker_error is not None:
            raise broker_error
        return LoopResult(len(messages), len(ok), released, swept, next_due, redriven)

    def run(
        self,
        stop: threading.Event,
        wait: Callable[[float], object] | None = None,
        progress: Progress | None = None,
    ) -> None:
        """Loop until `stop`. A full batch loops again at once; otherwise it sleeps until the
        next row is due or the poll interval ends, whichever is sooner; `wait(seconds)` may
        return earlier when rows were added (PostgreSQL LISTEN). Database and broker outages
        are logged and retried with backoff; the loop never exits on them. Each loop, good or
        failed, is told to `progress`."""
        wait = wait or stop.wait
        report = progress or (lambda ok: None)
        backoff = Backoff(0.1, MAX_BACKOFF_S)
        while not stop.is_set():
            try:
                result = self._loop(defer_hand_over=True)
                backoff.reset()
                report(True)
            except BrokerUnavailable as error:
                report(False)
                delay_s = backoff.next_s()
                log.warning("broker unavailable (%s); retrying in %.1f s", error, delay_s)
                stop.wait(delay_s)
                continue
            except Exception as error:
                report(False)
                delay_s = backoff.next_s()
                log.warning(
                    "database unavailable (%s: %s); retrying in %.1f s",
                    error.__class__.__name__,
                    error,
                    delay_s,
                )
                stop.wait(delay_s)
                continue
            if result.claimed:
                log.debug("published %d of %d", result.published, result.claimed)
            if result.claimed >= self._config.batch_size:
                continue
            wait(self._sleep_s(result.next_due))
        self._hand_over_deferred()

    def _next_due(self) -> datetime | None:
        """When the next row is due, so the loop can wake exactly then (a read, no lock)."""
        return self._store.next_due_time(self._clock())

    def _keep_broker_ready(self) -> None:
        """Between batches: open the broker connection, or keep it alive, so that the first
        rows of a burst do not wait for a connection (a tenth of a second here)."""
        try:
            self._broker.publish([])
        except BrokerUnavailable as error:
            log.debug("broker not ready: %s", error)

    def _take_hand_overs(self, until: float) -> list[tuple[float, list[int]]]:
        """Remove and return the waiting hand-overs due by the monotonic instant `until`."""
        due = []
        while self._confirmed and self._confirmed[0][0] <= until:
            due.append(self._confirmed.popleft())
        return due

    def _hand_over_deferred(self) -> None:
        """On the way out: hand over every waiting batch (left to the sweep on failure)."""
        confirmed = [row for _, rows in self._take_hand_overs(math.inf) for row in rows]
        if not confirmed:
            return
        try:
            self._store.hand_over(confirmed, self._config.distributor_id)
        except Exception as error:
            log.warning("%d confirmed rows left to the sweep: %s", len(confirmed), error.__class__.__name__)

    def _sleep_s(self, next_due: datetime | None) -> float:
        poll_s = self._config.poll_interval_s
        if next_due is None:
            return poll_s
        return max(0.0, min(poll_s, (next_due - self._clock()).total_seconds()))
