"""Chaos run: every fault at once over many tasks (tests/acceptance/chaos.py), on private
PostgreSQL and RabbitMQ nodes started here. Prints one table row per seed.

    .venv/bin/python benchmarks/chaos.py --tasks 5000 --seed 1 --seed 2 --seed 3

Processors are killed every few seconds, two distributors killed, PostgreSQL stopped twice
(a fast and an immediate stop), RabbitMQ stopped once and killed once, while the tasks fall
due; afterwards every row must be final, the sink must have seen every key, and a key may
have been seen twice only for a row that ran on a killed processor.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, Python puts benchmarks/ first on sys.path; the harness lives in tests/.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.acceptance.chaos import ChaosConfig, run_chaos  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--seed", type=int, action="append", help="repeat for several runs (default: 1)")
    parser.add_argument("--spread-s", type=float, default=60.0, help="the tasks fall due over this long")
    args = parser.parse_args()
    seeds = args.seed or [1]
    print(
        "| seed | tasks | processor kills | distributor kills | PG stops | RabbitMQ stop+kill "
        "| final after faults | statuses | keys missing | repeats (all after a kill) | wall |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    failed = False
    for seed in seeds:
        log_dir = Path(tempfile.mkdtemp(prefix=f"headway-chaos-{seed}-"))
        config = ChaosConfig(tasks=args.tasks, seed=seed, spread_s=args.spread_s, settle_timeout_s=300)
        began = time.monotonic()
        report = run_chaos(config, log_dir)
        faults = report.faults
        final = f"{report.final_after_s:.1f} s" if report.final_after_s is not None else "NOT FINAL"
        unexplained = sorted(report.unexplained_repeats)
        repeats = f"{len(report.repeated)} ({'yes' if not unexplained else f'NO: {unexplained}'})"
        print(
            f"| {seed} | {args.tasks} | {faults['processor_kill']} | {faults['distributor_kill']} "
            f"| {faults['postgresql_stop_fast'] + faults['postgresql_stop_immediate']} "
            f"| {faults['rabbitmq_stop']}+{faults['rabbitmq_kill']} | {final} | {report.statuses} "
            f"| {report.missing_keys} | {repeats} | {time.monotonic() - began:.0f} s |",
            flush=True,
        )
        failed |= not report.ok
        if not report.ok:
            print(f"  logs in {log_dir}; exit codes {report.exit_codes}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
