"""End-to-end bursts of two checkouts, alternating: does a change cost the hot path?

Single bursts on a 2-core machine shared by PostgreSQL, RabbitMQ, the distributors and the
processors range over a third of their mean within minutes, so a change is judged by
alternating runs of the checkout before it (`--base`, any commit whose `benchmarks/e2e.py`
has `bench_database` and `add_due_rows`) and this one, each burst in a fresh database:
2 processors (`--concurrency 16 --prefetch 400`) and 2 distributors started and left idle
for 10 s, then `--tasks` no-op tasks due once their insert is done. Prints one JSON line per
burst (tasks/s from the due instant to the last success, p50/p99 start lag, CPU seconds over
the burst of the processors, the distributors and the servers: every `postgres` and
RabbitMQ process on this machine), then the means. Run:
    .venv/bin/python benchmarks/burst_ab.py --base ../headway-80d2ac9 [--runs 8] [--tasks 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SERVER_COMMANDS = ("postgres", "beam.smp")
HERE = Path(__file__).resolve()


def servers_cpu_s() -> float:
    """User + system CPU seconds of every PostgreSQL and RabbitMQ process so far (Linux)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in SERVER_COMMANDS:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def one_burst(count: int) -> dict[str, Any]:
    """One burst with the checkout in the working directory (its own `benchmarks.e2e`)."""
    sys.path.insert(0, os.getcwd())
    from sqlalchemy import func, select

    from benchmarks import e2e  # the checkout's, not necessarily this file's
    from engine.adapters.rabbitmq import RabbitMQBroker
    from engine.adapters.tables import task_schedule

    with e2e.bench_database() as (url, engine):
        queue = f"burst_ab_{uuid.uuid4().hex[:8]}"
        env = {"HEADWAY_DATABASE_URL": url, "HEADWAY_BROKER_URL": e2e.AMQP_URL, "HEADWAY_QUEUE": queue}
        logs = Path(tempfile.mkdtemp(prefix="burst_ab_"))
        processor = ["processor", "--concurrency", "16", "--prefetch", "400"]
        processors = [e2e.start(processor, env, logs, f"proc-{i}") for i in range(2)]
        distributors = [e2e.start(["distributor"], env, logs, f"dist-{i}") for i in range(2)]
        try:
            time.sleep(10)  # started and idle, as a fleet waiting for its next burst
            due = datetime.now(UTC) + timedelta(seconds=6 + count / 2500)  # after the insert
            e2e.add_due_rows(engine, count, due)
            time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            before = _cpu(processors, distributors)
            e2e.wait_until_succeeded(engine, count, 300)
            after = _cpu(processors, distributors)
        finally:
            e2e.stop(processors + distributors)
        with engine.connect() as connection:
            last = connection.execute(select(func.max(task_schedule.c.finished_at))).scalar_one()
            lags = list(connection.execute(select(task_schedule.c.start_lag_ms)).scalars())
        # Interpolated between ranks, as PostgreSQL's percentile_cont (benchmarks/e2e.py).
        cuts = statistics.quantiles(lags, n=100, method="inclusive")
        p50, p99 = cuts[49], cuts[98]
        RabbitMQBroker(e2e.AMQP_URL, queue).delete_queues()
    used = [round(b - a, 2) for a, b in zip(before, after, strict=True)]
    return {
        "tasks_per_s": round(count / (last - due).total_seconds()),
        "p50_ms": round(float(p50)),
        "p99_ms": round(float(p99)),
        "cpu_processors_s": used[0],
        "cpu_distributors_s": used[1],
        "cpu_servers_s": used[2],
    }


def _cpu(processors: list[Any], distributors: list[Any]) -> tuple[float, float, float]:
    from benchmarks.e2e import cpu_s

    return sum(map(cpu_s, processors)), sum(map(cpu_s, distributors)), servers_cpu_s()


def run_in(checkout: Path, count: int) -> dict[str, Any]:
    """One burst in a child process whose working directory and import path are `checkout`."""
    done = subprocess.run(
        [sys.executable, str(HERE), "--one", "--tasks", str(count)],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, help="the checkout to compare with")
    parser.add_argument("--runs", type=int, default=8, help="bursts of each checkout")
    parser.add_argument("--tasks", type=int, default=20_000, help="tasks per burst")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_burst(args.tasks)))
        return
    if args.base is None or not (args.base / "benchmarks" / "e2e.py").is_file():
        parser.error("--base: a checkout of Headway holding benchmarks/e2e.py is required")
    checkouts = {"base": args.base.resolve(), "this": HERE.parents[1]}
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in checkouts}
    for _ in range(args.runs):
        for label, checkout in checkouts.items():
            result = run_in(checkout, args.tasks)
            results[label].append(result)
            print(json.dumps({"at": datetime.now(UTC).strftime("%H:%M:%S"), "checkout": label, **result}))
    for label, runs in results.items():
        means = {key: round(statistics.mean(run[key] for run in runs), 2) for key in runs[0]}
        median = statistics.median(run["tasks_per_s"] for run in runs)
        print(f"{label}: {len(runs)} bursts, mean {json.dumps(means)}, median tasks/s {median:,.0f}")
    base, this = (statistics.mean(r["tasks_per_s"] for r in results[k]) for k in checkouts)
    print(f"this against base: {100 * (this - base) / base:+.1f} % tasks/s (means)")


if __name__ == "__main__":
    main()
