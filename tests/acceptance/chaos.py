"""Every fault at once: real `headway` distributors and processors on private PostgreSQL and
RabbitMQ nodes, while processors are killed every few seconds, distributors are killed,
PostgreSQL is stopped twice and RabbitMQ is stopped once and killed once.

Afterwards every row must be final within a bounded time, the HTTP sink must have seen every
row's idempotency key, and a key may have reached it twice only if its row was running on a
processor that was killed (README, "At-least-once delivery"). Used by
tests/acceptance/test_chaos.py (short) and benchmarks/chaos.py (5,000 tasks).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, select, text

from engine.adapters.database import create_db_engine
from engine.adapters.migrations import upgrade
from engine.adapters.tables import task_schedule
from engine.processes.scheduler import run_pass
from tests.acceptance.faults import Headway, PgNode, RabbitNode
from tests.integration.helpers import add_tasks, status_counts
from tests.sink import running_sink

FINAL = {"Succeeded", "Dead"}  # and Failed without a retry pending


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    tasks: int = 600
    seed: int = 1
    spread_s: float = 24.0  # the tasks fall due over this long, the faults happen meanwhile
    task_ms: int = 400
    processors: int = 3
    distributors: int = 2
    concurrency: int = 8
    prefetch: int = 4
    processor_kill_every_s: float = 4.0
    settle_timeout_s: float = 120.0


@dataclass(slots=True)
class ChaosReport:
    config: ChaosConfig
    faults: Counter[str] = field(default_factory=Counter)
    statuses: dict[str, int] = field(default_factory=dict)
    final_after_s: float | None = None  # from the end of the faults until every row was final
    missing_keys: int = 0
    repeated: set[int] = field(default_factory=set)
    allowed_repeats: set[int] = field(default_factory=set)  # ran on a processor that was killed
    exit_codes: dict[str, int | None] = field(default_factory=dict)

    @property
    def unexplained_repeats(self) -> set[int]:
        return self.repeated - self.allowed_repeats

    @property
    def ok(self) -> bool:
        return (
            self.final_after_s is not None
            and set(self.statuses) == {"Succeeded"}
            and self.missing_keys == 0
            and not self.unexplained_repeats
            and set(self.exit_codes.values()) <= {0}
        )


class _Fleet:
    def __init__(self, env: dict[str, str], log_dir: Path, config: ChaosConfig) -> None:
        self.env, self.log_dir, self.config = env, log_dir, config
        self.lock = threading.Lock()
        self.processors: list[Headway] = []
        self.distributors: list[Headway] = []
        self.killed_pids: set[int] = set()
        self.everyone: list[Headway] = []
        self._count = 0

    def start(self, kind: str) -> Headway:
        with self.lock:
            self._count += 1
            args = [kind]
            if kind == "processor":
                args += [
                    "--concurrency",
                    str(self.config.concurrency),
                    "--prefetch",
                    str(self.config.prefetch),
                ]
            process = Headway(args, self.env, self.log_dir, f"{kind}-{self._count}")
            (self.processors if kind == "processor" else self.distributors).append(process)
            self.everyone.append(process)
            return process

    def kill_one(self, kind: str, rng: random.Random) -> Headway:
        with self.lock:
            group = self.processors if kind == "processor" else self.distributors
            victim = group.pop(rng.randrange(len(group)))
            self.killed_pids.add(victim.pid)
        victim.kill9()
        return victim


class _RunningRows:
    """Polls which rows each processor (by pid) holds `Running`, so that a repeat can be
    matched to a kill. A task runs for task_ms; polled several times meanwhile."""

    def __init__(self, url: str) -> None:
        self.by_pid: dict[int, set[int]] = {}
        self._engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 1})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        query = select(task_schedule.c.id, task_schedule.c.claimed_by).where(
            task_schedule.c.status == "Running"
        )
        while not self._stop.wait(0.1):
            try:
                with self._engine.connect() as connection:
                    rows = connection.execute(query).all()
            except Exception:  # the database is down: look again later
                continue
            for row_id, claimed_by in rows:
                parts = (claimed_by or "").split(":")
                if len(parts) >= 3 and parts[1].isdigit():
                    self.by_pid.setdefault(int(parts[1]), set()).add(int(row_id))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._engine.dispose()


def _every(stop: threading.Event, rng: random.Random, mean_s: float, action: Callable[[], None]) -> None:
    while not stop.wait(rng.uniform(0.5 * mean_s, 1.5 * mean_s)):
        action()


def run_chaos(config: ChaosConfig, log_dir: Path, say: Callable[[str], None] = lambda _: None) -> ChaosReport:
    report = ChaosReport(config)
    rng = random.Random(config.seed)
    pg, rabbit = PgNode(), RabbitNode()
    fleet: _Fleet | None = None
    rows: _RunningRows | None = None
    engine: Engine | None = None
    try:
        pg.start()
        admin = create_engine(pg.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE headway"))
        admin.dispose()
        url = pg.url("headway")
        engine = create_db_engine(url)
        upgrade(engine)
        rabbit.start()
        with running_sink() as sink:
            now = datetime.now(UTC)
            waves = 12
            for wave in range(waves):
                add_tasks(
                    engine,
                    config.tasks // waves + (1 if wave < config.tasks % waves else 0),
                    now,
                    {"url": f"{sink.url}/slow?ms={config.task_ms}"},
                    kind="once",
                    run_at=now + timedelta(seconds=2 + config.spread_s * wave / waves),
                )
            run_pass(engine, now)
            env = {
                "HEADWAY_DATABASE_URL": url,
                "HEADWAY_BROKER_URL": rabbit.url,
                "HEADWAY_QUEUE": "headway-chaos",
                "HEADWAY_OUTBOUND_ALLOW": "127.0.0.1",
                "HEADWAY_DISTRIBUTOR_LEASE_S": "2",
                "HEADWAY_PROCESSOR_LEASE_S": "3",
                "HEADWAY_PROCESSOR_HEARTBEAT_S": "0.5",
                "HEADWAY_RETRY_BASE_MS": "200",
                "HEADWAY_RECONCILE_INTERVAL_S": "1",
                "HEADWAY_RECONCILE_QUEUED_AFTER_S": "20",
                "HEADWAY_SHUTDOWN_GRACE_S": "10",
            }
            fleet = _Fleet(env, log_dir, config)
            rows = _RunningRows(url)
            for _ in range(config.distributors):
                fleet.start("distributor")
            for _ in range(config.processors):
                fleet.start("processor")
            stop = threading.Event()
            threads = _fault_threads(config, fleet, pg, rabbit, rng, stop, report)
            for thread in threads:
                thread.start()
            time.sleep(config.spread_s + 2)
            stop.set()
            for thread in threads:
                thread.join(120)
            say(f"faults done: {dict(report.faults)}")
            faults_ended = time.monotonic()
            deadline = faults_ended + config.settle_timeout_s
            while time.monotonic() < deadline:
                if _all_final(engine):
                    report.final_after_s = time.monotonic() - faults_ended
                    break
                time.sleep(0.5)
            report.statuses = status_counts(engine)
            say(f"statuses: {report.statuses}")
            rows.close()
            for process in fleet.everyone:
                if process.alive():
                    report.exit_codes[process.name] = process.terminate(30)
            with engine.connect() as connection:
                ids = {str(i) for i in connection.execute(select(task_schedule.c.id)).scalars()}
            report.missing_keys = len(ids - set(sink.keys))
            report.repeated = {int(key) for key, count in sink.keys.items() if count > 1}
            report.allowed_repeats = {row for pid in fleet.killed_pids for row in rows.by_pid.get(pid, set())}
        return report
    finally:
        if rows is not None:
            rows.close()
        if fleet is not None:
            for process in fleet.everyone:
                process.close()
        if engine is not None:
            engine.dispose()
        rabbit.stop()
        rabbit.remove()
        pg.remove()


def _all_final(engine: Engine) -> bool:
    with engine.connect() as connection:
        pending = connection.execute(
            select(task_schedule.c.id)
            .where(
                task_schedule.c.status.not_in(FINAL)
                & ~((task_schedule.c.status == "Failed") & task_schedule.c.next_attempt_at.is_(None))
            )
            .limit(1)
        ).first()
    return pending is None


def _fault_threads(
    config: ChaosConfig,
    fleet: _Fleet,
    pg: PgNode,
    rabbit: RabbitNode,
    rng: random.Random,
    stop: threading.Event,
    report: ChaosReport,
) -> list[threading.Thread]:
    # One generator per kind of fault, so each kind's schedule depends on the seed alone.
    seeds = [rng.randrange(2**32) for _ in range(4)]

    def kill_processor() -> None:
        fleet.kill_one("processor", random.Random(seeds[0] + report.faults["processor_kill"]))
        report.faults["processor_kill"] += 1
        fleet.start("processor")

    began = time.monotonic()

    def at(fraction: float) -> None:
        """Sleep until `fraction` of the fault window has passed (planned faults happen
        whatever else is going on, late if an earlier one took long)."""
        time.sleep(max(0.0, began + fraction * config.spread_s - time.monotonic()))

    def distributor_kills() -> None:
        local = random.Random(seeds[1])
        for window in ((0.15, 0.4), (0.6, 0.85)):
            at(local.uniform(*window))
            fleet.kill_one("distributor", local)
            report.faults["distributor_kill"] += 1
            time.sleep(1)
            fleet.start("distributor")

    def postgres_outages() -> None:
        local = random.Random(seeds[2])
        for mode, window in (("fast", (0.1, 0.3)), ("immediate", (0.5, 0.7))):
            at(local.uniform(*window))
            pg.stop(mode)
            report.faults[f"postgresql_stop_{mode}"] += 1
            time.sleep(local.uniform(3, 6))
            pg.start()

    def rabbitmq_outages() -> None:
        local = random.Random(seeds[3])
        for kind, window in (("stop", (0.05, 0.25)), ("kill", (0.55, 0.75))):
            at(local.uniform(*window))
            rabbit.stop() if kind == "stop" else rabbit.kill9()
            report.faults[f"rabbitmq_{kind}"] += 1
            time.sleep(local.uniform(1, 3))
            rabbit.start()

    processor_rng = random.Random(seeds[0])
    return [
        threading.Thread(
            target=_every,
            args=(stop, processor_rng, config.processor_kill_every_s, kill_processor),
            daemon=True,
        ),
        threading.Thread(target=distributor_kills, daemon=True),
        threading.Thread(target=postgres_outages, daemon=True),
        threading.Thread(target=rabbitmq_outages, daemon=True),
    ]
