"""The simulator against the live engine: the same workload, run by real processes and by
`headway simulate`, compared on start lag and verdict.

Per scenario:
(a) live: a fresh PostgreSQL database and a unique RabbitMQ queue; the tasks are inserted and
    materialised by a Scheduler pass, then real `headway distributor` and `headway processor`
    processes run them. Each task is an `http` call to a local endpoint (in this script) that
    sleeps the task's drawn duration. Start lag = first attempt's start - due time.
(b) simulated: `headway simulate` on a workload file of the same tasks (the same due instants
    and, where drawn ahead, the same durations), with the engine's parameters (defaults), and
    once more with the dispatch calibrated from the live run (`--poll-interval-s 0
    --release-delay-ms R --dispatch-overhead-ms D`, from `simulation.calibration`).

Scenarios: a burst due at one instant on a fixed fleet; a Poisson stream with exponential
durations near 80 % utilisation; a mixed cron fleet with lognormal durations under the formula,
processors started and stopped each minute to follow it (scale-up lag: the processes' boot);
processors with concurrency 4. Goal: p99 and max start lag within 20 % or 0.3 s, and the same
verdict (every task within 10 s). Run:

    .venv/bin/python benchmarks/sim_vs_live.py [--short] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
from sqlalchemy import Engine, delete, func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import fresh_postgres  # noqa: E402
from engine.adapters.tables import processor_heartbeats, task_runs, task_schedule, task_types, tasks  # noqa: E402
from engine.core.scaling import required_instances  # noqa: E402
from engine.processes.scheduler import run_pass  # noqa: E402
from simulation.calibration import fit_dispatch  # noqa: E402
from simulation.durations import duration_model  # noqa: E402

AMQP_URL = os.environ.get("HEADWAY_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
HEADWAY = str(Path(sys.executable).with_name("headway"))
TARGET_S = 10.0
DONE = ("Succeeded", "Failed", "Dead")


# -- the endpoint tasks call -------------------------------------------------------------------


class _Sleep(BaseHTTPRequestHandler):
    """GET /sleep?ms=N sleeps N ms; /sleep?model=lognormal&mean=..&p95=.. draws the duration,
    seeded by the schedule row id (the Idempotency-Key header), so a retry sleeps as long."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
        if "ms" in query:
            sleep_ms = float(query["ms"])
        else:
            model = duration_model(query["model"], float(query["mean"]), float(query.get("p95", 0)) or None)
            key = int(self.headers.get("Idempotency-Key", "0"))
            sleep_ms = model.sample_us(np.random.default_rng([int(query.get("seed", 0)), key]), 1)[0] / 1e3
        time.sleep(sleep_ms / 1e3)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def start_endpoint() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sleep)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/sleep"


# -- scenarios ---------------------------------------------------------------------------------


@dataclass
class TaskDef:
    name: str
    task_type: str
    query: str  # the endpoint's query string
    run_at: datetime | None = None
    cron: str | None = None


@dataclass
class Scenario:
    name: str
    concurrency: int
    processors: int | None  # None: follow the formula minute by minute
    types: dict[str, dict[str, float | str]]  # name -> workload duration model
    tasks: list[TaskDef] = field(default_factory=list)
    minutes: int = 1  # whole minutes from the window start


def burst(
    name: str, count: int, duration_ms: int, processors: int, concurrency: int, due: datetime
) -> Scenario:
    tasks = [TaskDef(f"b{i}", "fixed", f"ms={duration_ms}", run_at=due) for i in range(count)]
    return Scenario(
        name, concurrency, processors, {"fixed": {"model": "fixed", "mean_ms": duration_ms}}, tasks
    )


def poisson(start: datetime, minutes: int, rng: np.random.Generator) -> Scenario:
    """Exponential durations of mean 1 s on 2 processors x 2 slots at 80 %: 3.2 arrivals a
    second. Durations drawn here, so both sides run exactly the same tasks."""
    total = int(rng.poisson(3.2 * 60 * minutes))
    offsets = np.sort(rng.uniform(5, 60 * minutes, total))
    durations = np.rint(rng.exponential(1_000, total)).astype(int)
    types: dict[str, dict[str, float | str]] = {}
    tasks = []
    for index, (offset, duration) in enumerate(zip(offsets, durations, strict=True)):
        types.setdefault(f"d{duration}", {"model": "fixed", "mean_ms": int(duration)})
        at = start + timedelta(seconds=float(offset))
        tasks.append(TaskDef(f"p{index}", f"d{duration}", f"ms={duration}", run_at=at))
    return Scenario("Poisson, exponential 1 s, 80 % of 2x2", 2, 2, types, tasks, minutes + 1)


def cron_fleet(minutes: int, rng: np.random.Generator) -> Scenario:
    """Cron tasks with lognormal durations under the formula: 5 syncs every minute (lognormal
    mean 1.5 s, p95 4 s) and 12 reports every other minute (mean 0.8 s, p95 2 s). Each task's
    duration is drawn once and kept for its every fire (its own type, planned at that
    duration), so both sides run the same work and plan the same fleet: about 1 processor on
    odd minutes and 2 to 3 on even ones."""
    sync = duration_model("lognormal", mean_ms=1_500, p95_ms=4_000)
    report = duration_model("lognormal", mean_ms=800, p95_ms=2_000)
    types: dict[str, dict[str, float | str]] = {}
    tasks = []
    for prefix, model, count, cron in (("sync", sync, 5, "* * * * *"), ("report", report, 12, "*/2 * * * *")):
        for index, drawn_us in enumerate(model.sample_us(rng, count).tolist()):
            duration = max(1, round(drawn_us / 1_000))
            name = f"{prefix}{index}"
            types[name] = {"model": "fixed", "mean_ms": duration}
            tasks.append(TaskDef(name, name, f"ms={duration}", cron=cron))
    return Scenario("cron fleet, lognormal, formula (1 slot)", 1, None, types, tasks, minutes)


# -- the live run ------------------------------------------------------------------------------


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([HEADWAY, *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def _heartbeats(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(processor_heartbeats)).scalar_one())


def _at_least(engine: Engine, count: int) -> bool:
    return _heartbeats(engine) >= count


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _insert(
    engine: Engine, scenario: Scenario, url: str, now: datetime, window: tuple[datetime, datetime]
) -> None:
    """The scenario's types and tasks, and their schedule rows inside `window` only (no
    Scheduler runs meanwhile, so cron tasks fire in the window and nowhere else)."""
    with engine.begin() as connection:
        for name, model in scenario.types.items():
            connection.execute(
                insert(task_types).values(
                    name=name,
                    description="",
                    handler="http",
                    expected_duration_ms=round(float(model["mean_ms"])),
                    timeout_ms=60_000,
                    max_attempts=3,
                    config={},
                )
            )
        connection.execute(
            insert(tasks),
            [
                {
                    "name": task.name,
                    "task_type": task.task_type,
                    "kind": "cron" if task.cron else "once",
                    "cron_expression": task.cron,
                    "timezone": "UTC" if task.cron else None,
                    "run_at": task.run_at,
                    "payload": {"url": f"{url}?{task.query}"},
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for task in scenario.tasks
            ],
        )
    run_pass(engine, now, window_hours=1)
    with engine.begin() as connection:
        connection.execute(
            delete(task_schedule).where(
                (task_schedule.c.scheduled_time < window[0]) | (task_schedule.c.scheduled_time >= window[1])
            )
        )


def formula_levels(scenario: Scenario, start: datetime) -> list[int]:
    """The formula per minute of the window, from the types' means, as the simulator plans."""
    from engine.core.cron import CronSchedule, fire_times

    work = [0] * scenario.minutes
    for task in scenario.tasks:
        assert task.cron is not None
        for at in fire_times(
            CronSchedule(task.cron, "UTC"),
            start - timedelta(seconds=1),
            start + timedelta(minutes=scenario.minutes) - timedelta(seconds=1),
        ):
            work[int((at - start) / timedelta(minutes=1))] += round(
                float(scenario.types[task.task_type]["mean_ms"])
            )
    return [max(1, required_instances(total)) for total in work]


@dataclass
class LiveResult:
    lags_s: np.ndarray
    release_delay_ms: float
    overhead_ms: float
    boot_lag_s: float


def run_live(scenario: Scenario, start: datetime, window_start: datetime, url: str, logs: Path) -> LiveResult:
    queue = f"headway-simlive-{uuid.uuid4().hex[:8]}"
    with fresh_postgres("headway_simlive") as engine:
        db_url = engine.url.render_as_string(hide_password=False)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HEADWAY_")},
            "HEADWAY_DATABASE_URL": db_url,
            "HEADWAY_BROKER_URL": AMQP_URL,
            "HEADWAY_QUEUE": queue,
            "HEADWAY_OUTBOUND_ALLOW": "127.0.0.1",
        }
        window = (window_start, window_start + timedelta(minutes=scenario.minutes))
        _insert(engine, scenario, url, datetime.now(UTC), window)
        levels = formula_levels(scenario, start) if scenario.processors is None else [scenario.processors]
        processor_args = ["processor", "--concurrency", str(scenario.concurrency), "--prefetch", "1"]
        fleet: list[subprocess.Popen[bytes]] = []
        boots: list[float] = []
        distributor = _spawn(["distributor"], env, logs / "distributor.log")
        try:
            for _ in range(levels[0]):
                fleet.append(_spawn(processor_args, env, logs / "processor.log"))
            _wait(lambda: _heartbeats(engine) >= levels[0], 60, "the first processors")
            if datetime.now(UTC) > start:
                raise RuntimeError(f"set-up took past the window start {start:%H:%M:%S}: lengthen the lead")
            for minute in range(1, len(levels) if scenario.processors is None else 0):
                time.sleep(max(0.0, (start + timedelta(minutes=minute) - datetime.now(UTC)).total_seconds()))
                target, before = levels[minute], _heartbeats(engine)
                spawned = time.monotonic()
                while len(fleet) < target:
                    fleet.append(_spawn(processor_args, env, logs / "processor.log"))
                while len(fleet) > target:
                    threading.Thread(target=_stop, args=(fleet.pop(),), daemon=True).start()
                if target > before:
                    _wait(partial(_at_least, engine, target), 60, "new processors")
                    boots.append(time.monotonic() - spawned)
            _wait(lambda: _finished(engine), 60 * scenario.minutes + 300, "every task to finish")
        finally:
            for process in [*fleet, distributor]:
                _stop(process)
            from engine.adapters.rabbitmq import RabbitMQBroker

            RabbitMQBroker(AMQP_URL, queue).delete_queues()
        return _measure(engine, boots)


def _finished(engine: Engine) -> bool:
    with engine.connect() as connection:
        pending = connection.execute(
            select(func.count()).select_from(task_schedule).where(task_schedule.c.status.not_in(DONE))
        ).scalar_one()
    return pending == 0


def _measure(engine: Engine, boots: list[float]) -> LiveResult:
    with engine.connect() as connection:
        rows = connection.execute(
            select(task_schedule.c.scheduled_time, task_schedule.c.queued_at, task_runs.c.started_at)
            .join(task_runs, task_runs.c.schedule_id == task_schedule.c.id)
            .where(task_runs.c.attempt == 1)
        ).all()
        runs = connection.execute(select(task_runs.c.started_at, task_runs.c.elapsed_ms)).all()
    epoch = min(due for due, _, _ in rows)
    first_starts = np.array([(started - epoch).total_seconds() * 1e3 for _, _, started in rows])
    finishes = np.array([(started - epoch).total_seconds() * 1e3 + elapsed for started, elapsed in runs])
    lags = np.array([(started - due).total_seconds() for due, _, started in rows])
    due_to_queued = np.array([(queued - due).total_seconds() * 1e3 for due, queued, _ in rows])
    queued_to_started = np.array([(started - queued).total_seconds() * 1e3 for _, queued, started in rows])
    fit = fit_dispatch(due_to_queued, queued_to_started, first_starts, finishes)
    return LiveResult(
        lags, fit.release_delay_ms, fit.dispatch_overhead_ms, float(np.mean(boots)) if boots else 0.0
    )


# -- the simulated run -------------------------------------------------------------------------


def workload_yaml(scenario: Scenario) -> str:
    lines = ["task_types:"]
    for name, model in scenario.types.items():
        fields = ", ".join(f"{key}: {value}" for key, value in model.items() if key != "model")
        lines.append(f"  {name}: {{duration: {{model: {model['model']}, {fields}}}}}")
    lines.append("tasks:")
    for task in scenario.tasks:
        when = f'cron: "{task.cron}"' if task.cron else f"run_at: '{task.run_at.isoformat()}'"  # type: ignore[union-attr]
        lines.append(f"  - {{name: {task.name}, task_type: {task.task_type}, {when}}}")
    return "\n".join(lines) + "\n"


def run_simulated(scenario: Scenario, start: datetime, extra: list[str]) -> dict[str, object]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        file.write(workload_yaml(scenario))
    instances = "formula" if scenario.processors is None else str(scenario.processors)
    args = [
        "simulate",
        file.name,
        "--start",
        start.isoformat(),
        "--hours",
        str(scenario.minutes / 60),
        "--instances",
        instances,
        "--concurrency",
        str(scenario.concurrency),
        "--json",
        *extra,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWAY_")}
    result = subprocess.run([HEADWAY, *args], capture_output=True, text=True, env=env, timeout=600)
    os.unlink(file.name)
    if result.returncode not in (0, 1):
        raise RuntimeError(result.stderr)
    document: dict[str, object] = json.loads(result.stdout)
    return document


# -- report ------------------------------------------------------------------------------------


def _close(simulated: float, live: float) -> bool:
    return abs(simulated - live) <= max(0.2 * live, 0.3)


def report(name: str, live: LiveResult, simulated: dict[str, dict[str, object]]) -> bool:
    lags = live.lags_s
    p50, p95, p99 = np.percentile(lags, [50, 95, 99])
    on_time = 100 * float(np.mean(lags <= TARGET_S))
    live_verdict = "pass" if lags.max() <= TARGET_S else "fail"
    print(
        f"\n{name}: {len(lags)} tasks; live release delay {live.release_delay_ms:.1f} ms, dispatch "
        f"{live.overhead_ms:.1f} ms, processor boot {live.boot_lag_s:.1f} s"
    )
    print(f"  {'':<22} {'p50 s':>7} {'p95 s':>7} {'p99 s':>7} {'max s':>7} {'on time %':>9}  verdict")
    print(f"  {'live':<22} {p50:7.2f} {p95:7.2f} {p99:7.2f} {lags.max():7.2f} {on_time:9.2f}  {live_verdict}")
    agreed = True
    for label, document in simulated.items():
        delay: dict[str, float] = document["start_delay_s"]  # type: ignore[assignment]
        same = document["verdict"] == live_verdict
        close = _close(delay["p99"], p99) and _close(delay["max"], lags.max())
        print(
            f"  {label:<22} {delay['p50']:7.2f} {delay['p95']:7.2f} {delay['p99']:7.2f} {delay['max']:7.2f} "
            f"{document['on_time_pct']:9.2f}  {document['verdict']}  ratio p99 {delay['p99'] / p99:.2f}, "
            f"max {delay['max'] / lags.max():.2f}; within goal: {'yes' if close else 'NO'}, "
            f"verdict {'agrees' if same else 'DIFFERS'}"
        )
        agreed = agreed and same and close
    return agreed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", action="store_true", help="shorter streams (about 4 minutes in all)")
    parser.add_argument("--only", help="run the scenarios whose name contains this")
    parser.add_argument("--lead-s", type=float, default=25, help="set-up time before a window starts")
    options = parser.parse_args()
    server, url = start_endpoint()
    logs = Path(tempfile.mkdtemp(prefix="headway-simlive-"))
    print(f"sim vs live on {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; logs in {logs}")
    rng = np.random.default_rng(3)
    stream_minutes = 1 if options.short else 3

    def at_lead() -> datetime:
        return (datetime.now(UTC) + timedelta(seconds=options.lead_s)).replace(microsecond=0)

    def next_minute() -> datetime:
        soon = datetime.now(UTC) + timedelta(seconds=options.lead_s)
        return soon.replace(second=0, microsecond=0) + timedelta(minutes=1)

    def first_burst() -> tuple[Scenario, datetime]:
        due = at_lead()
        return burst(":00 burst, 240 x 250 ms on 2x2", 240, 250, 2, 2, due), due

    def stream() -> tuple[Scenario, datetime]:
        due = at_lead()
        return poisson(due, stream_minutes, rng), due

    def fleet() -> tuple[Scenario, datetime]:
        return cron_fleet(2 if options.short else 4, rng), next_minute()

    def slots() -> tuple[Scenario, datetime]:
        due = at_lead()
        return burst("concurrency 4, 240 x 200 ms on 2x4", 240, 200, 2, 4, due), due

    builders = [(":00 burst", first_burst), ("Poisson", stream), ("cron", fleet), ("concurrency 4", slots)]
    verdicts = []
    for key, build in builders:
        if options.only and options.only.lower() not in key.lower():
            continue
        scenario, due = build()
        start = due.replace(second=0, microsecond=0)
        if scenario.processors is not None:
            scenario.minutes = max(
                scenario.minutes, math.ceil((due - start).total_seconds() / 60 + scenario.minutes)
            )
        live = run_live(scenario, start if scenario.processors is None else due, start, url, logs)
        engine_params = run_simulated(scenario, start, [])
        calibrated_args = [
            "--poll-interval-s",
            "0",
            "--release-delay-ms",
            f"{live.release_delay_ms:.3f}",
            "--dispatch-overhead-ms",
            f"{live.overhead_ms:.3f}",
        ]
        if scenario.processors is None:
            calibrated_args += ["--scale-up-lag-s", f"{live.boot_lag_s:.2f}"]
        calibrated = run_simulated(scenario, start, calibrated_args)
        verdicts.append(
            report(
                scenario.name,
                live,
                {"simulated (defaults)": engine_params, "simulated (calibrated)": calibrated},
            )
        )
    server.shutdown()
    print(f"\nload average after: {os.getloadavg()[0]:.2f}; all within goal and agreeing: {all(verdicts)}")


if __name__ == "__main__":
    main()
