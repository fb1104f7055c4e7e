"""`headway simulate`: parse options, load the workload, run, print, exit 0 / 1 / 2.

Only typer, the standard library and the shared options are imported at module level, so
`headway --help` stays instant; numpy, SimPy and altair load when the command runs.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from engine.commands.common import DEFAULT_DATABASE_URL, BufferOption, CapacityOption, DatabaseUrlOption

if TYPE_CHECKING:
    from simulation.run import Engine, Result, Scenario
    from simulation.workload import Workload

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
# The engine's defaults (`simulation.defaults.ENGINE_DEFAULTS`, read from Settings) are written
# out on the options below so that `headway --help` loads no pydantic;
# tests/unit/test_simulation_defaults.py fails if the two drift.
# Large enough that short runs (tests, the example) finish before a bar would even draw.
_PROGRESS_MIN_TASKS = 200_000


def _fail_input(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _parse_start(text: str | None) -> datetime:
    from simulation.limits import ScenarioError

    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError as error:
        raise ScenarioError("start", f"not an ISO date-time: {text!r}") from error
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def simulate(
    workload: Annotated[
        Path | None,
        typer.Argument(
            help="Workload YAML (see docs/simulation.md).", envvar="HEADWAY_SIM_WORKLOAD"
        ),
    ] = None,
    from_db: Annotated[
        bool,
        typer.Option(
            "--from-db",
            help="Use the database's active tasks and run history.",
            envvar="HEADWAY_SIM_FROM_DB",
        ),
    ] = False,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate",
            help="Fit durations, failures and dispatch to the database's recorded runs "
            "(headway calibrate) and simulate with them.",
            envvar="HEADWAY_SIM_CALIBRATE",
        ),
    ] = False,
    calibrate_hours: Annotated[
        float,
        typer.Option(
            help="--calibrate: runs started this many hours before --start.",
            envvar="HEADWAY_SIM_CALIBRATE_HOURS",
        ),
    ] = 168.0,
    instances: Annotated[
        str,
        typer.Option(
            help="A fixed count N, 'formula' (the engine's rule, per minute) or "
            "'corrected' (the burst rule).",
            envvar="HEADWAY_SIM_INSTANCES",
        ),
    ] = "formula",
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
    min_instances: Annotated[
        int,
        typer.Option(
            help="Floor for formula/corrected (at least 1).", envvar="HEADWAY_SIM_MIN_INSTANCES"
        ),
    ] = 1,
    max_instances: Annotated[
        int | None,
        typer.Option(
            help="Ceiling for formula/corrected (default none).", envvar="HEADWAY_SIM_MAX_INSTANCES"
        ),
    ] = None,
    scale_up_lag_s: Annotated[
        float,
        typer.Option(
            help="Seconds before a new instance serves.", envvar="HEADWAY_SIM_SCALE_UP_LAG_S"
        ),
    ] = 0.0,
    poll_interval_s: Annotated[
        float,
        typer.Option(
            help="Distributor poll interval (the engine's default).",
            envvar="HEADWAY_SIM_POLL_INTERVAL_S",
        ),
    ] = 0.5,
    concurrency: Annotated[
        int,
        typer.Option(
            help="Worker slots per instance (processor; the engine's default).",
            envvar="HEADWAY_SIM_CONCURRENCY",
        ),
    ] = 4,
    prefetch: Annotated[
        int,
        typer.Option(
            help="Unacknowledged tasks per slot (the engine's default).",
            envvar="HEADWAY_SIM_PREFETCH",
        ),
    ] = 1,
    dispatch_overhead_ms: Annotated[
        float,
        typer.Option(
            help="Per task: broker delivery and the start transaction (see headway calibrate).",
            envvar="HEADWAY_SIM_DISPATCH_OVERHEAD_MS",
        ),
    ] = 5.0,
    release_delay_ms: Annotated[
        float,
        typer.Option(
            help="Per task: due (after the poll) to the broker; headway calibrate measures it.",
            envvar="HEADWAY_SIM_RELEASE_DELAY_MS",
        ),
    ] = 0.0,
    retry_base_ms: Annotated[
        int,
        typer.Option(
            help="Backoff before a failed task's second attempt (the engine's default).",
            envvar="HEADWAY_SIM_RETRY_BASE_MS",
        ),
    ] = 1_000,
    retry_max_ms: Annotated[
        int,
        typer.Option(help="Longest backoff (the engine's default).", envvar="HEADWAY_SIM_RETRY_MAX_MS"),
    ] = 300_000,
    start: Annotated[
        str | None,
        typer.Option(
            help="ISO start (default now, floored to the minute).", envvar="HEADWAY_SIM_START"
        ),
    ] = None,
    hours: Annotated[
        float, typer.Option(help="Window length (whole minutes kept).", envvar="HEADWAY_SIM_HOURS")
    ] = 3.0,
    target_s: Annotated[
        float, typer.Option(help="Start-delay target in seconds.", envvar="HEADWAY_SIM_TARGET_S")
    ] = 10.0,
    tail_z: Annotated[
        float,
        typer.Option(
            help="corrected: plan each minute's work at mean + z standard deviations.",
            envvar="HEADWAY_SIM_TAIL_Z",
        ),
    ] = 2.0,
    seed: Annotated[
        int, typer.Option(help="Seed of every random draw (>= 0).", envvar="HEADWAY_SIM_SEED")
    ] = 0,
    replications: Annotated[
        int,
        typer.Option(
            help="Independent runs (seeds derived from --seed): tasks and delays pooled, "
            "instance-minutes averaged, peak the highest; passes only if every run passes.",
            envvar="HEADWAY_SIM_REPLICATIONS",
        ),
    ] = 1,
    engine: Annotated[
        str,
        typer.Option(
            help="auto (fast when prefetch is 1), simpy or fast.", envvar="HEADWAY_SIM_ENGINE"
        ),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object.", envvar="HEADWAY_SIM_JSON")
    ] = False,
    csv: Annotated[
        Path | None,
        typer.Option("--csv", help="Write the per-minute series.", envvar="HEADWAY_SIM_CSV"),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Write an HTML report with charts.", envvar="HEADWAY_SIM_REPORT"),
    ] = None,
) -> None:
    """Simulate a workload against a capacity rule; exit 0 when every task starts within the
    target, 1 when some does not, 2 on bad input."""
    from simulation.arrivals import window_for
    from simulation.capacity import Limits
    from simulation.limits import ScenarioError
    from simulation.outcome import Dispatch
    from simulation.run import Scenario

    if workload is not None and from_db:
        raise _fail_input(
            "--from-db and a workload file (WORKLOAD or HEADWAY_SIM_WORKLOAD) exclude each "
            "other: give one"
        )
    if workload is None and not from_db:
        raise _fail_input("give a workload file or --from-db")
    try:
        scenario = Scenario(
            window=window_for(_parse_start(start), hours),
            instances=instances,
            capacity_ms=capacity_ms,
            buffer=buffer,
            limits=Limits(min_instances, max_instances),
            dispatch=Dispatch.from_units(
                poll_interval_s,
                prefetch,
                dispatch_overhead_ms,
                scale_up_lag_s,
                concurrency,
                retry_base_ms,
                retry_max_ms,
                release_delay_ms,
            ),
            target_s=target_s,
            tail_z=tail_z,
            seed=seed,
            replications=replications,
            engine=_engine(engine),
        )
    except ScenarioError as error:
        raise _fail_input(f"{error.option}: {error.message}") from error
    result = _run(workload, from_db, database_url, scenario, calibrate_hours if calibrate else None)
    if result.summary.tasks == 0:
        typer.echo(f"warning: no task is due in {_window_text(scenario)}", err=True)
    _write_outputs(result, scenario, as_json, csv, report)
    raise typer.Exit(EXIT_PASS if result.summary.verdict == "pass" else EXIT_FAIL)


def _engine(name: str) -> Engine:
    from simulation.limits import ScenarioError
    from simulation.run import Engine

    try:
        return Engine(name)
    except ValueError as error:
        choices = ", ".join(choice.value for choice in Engine)
        raise ScenarioError("engine", f"must be one of {choices}, got {name!r}") from error


def _window_text(scenario: Scenario) -> str:
    window = scenario.window
    return f"{window.start:%Y-%m-%d %H:%M} to {window.end:%Y-%m-%d %H:%M} UTC"


def _run(
    workload: Path | None,
    from_db: bool,
    database_url: str,
    scenario: Scenario,
    calibrate_hours: float | None,
) -> Result:
    from simulation.limits import LimitExceeded
    from simulation.progress import progress_bar
    from simulation.run import simulate as run_simulation
    from simulation.workload import WorkloadError, load_workload

    try:
        if from_db:
            from simulation.from_db import load_from_database

            loaded = load_from_database(database_url, scenario.window.start)
        else:
            assert workload is not None
            loaded = load_workload(workload)
    except WorkloadError as error:
        raise _fail_input(str(error)) from error
    if calibrate_hours is not None:
        loaded, scenario = _calibrated(loaded, scenario, database_url, calibrate_hours)
    try:
        with progress_bar(_PROGRESS_MIN_TASKS) as sink:
            return run_simulation(loaded, scenario, sink)
    except LimitExceeded as error:
        raise _fail_input(str(error)) from error


def _calibrated(
    workload: Workload, scenario: Scenario, database_url: str, hours: float
) -> tuple[Workload, Scenario]:
    """The workload and scenario with the fit of the runs before the window (on stderr)."""
    from dataclasses import replace

    from engine.commands.common import database
    from simulation.calibrate_cli import check_hours
    from simulation.calibrate_db import apply_calibration, calibrate, format_calibration

    check_hours(hours)
    with database(database_url) as engine:
        calibration = calibrate(engine, scenario.window.start, hours)
    typer.echo(format_calibration(calibration), err=True)
    workload, dispatch = apply_calibration(calibration, workload, scenario.dispatch)
    return workload, replace(scenario, dispatch=dispatch)


def result_json(result: Result, scenario: Scenario) -> dict[str, Any]:
    """The `--json` object: the pooled summary first, then how it was obtained."""
    document: dict[str, Any] = asdict(result.summary)
    document.update(
        engine=result.engine.value,
        instances=scenario.instances,
        window={
            "start": scenario.window.start.isoformat(),
            "end": scenario.window.end.isoformat(),
            "minutes": scenario.window.minutes,
        },
        seed=scenario.seed,
        replications=[
            {"seed": replication.seed, **asdict(replication.summary)}
            for replication in result.replications
        ],
    )
    return document


def _write_outputs(
    result: Result, scenario: Scenario, as_json: bool, csv: Path | None, report: Path | None
) -> None:
    from simulation.report import format_summary, write_csv, write_html

    try:
        if csv is not None:
            write_csv(csv, result)
        if report is not None:
            write_html(report, result, scenario)
    except OSError as error:
        raise _fail_input(f"cannot write output: {error}") from error
    if as_json:
        sys.stdout.write(json.dumps(result_json(result, scenario)) + "\n")
    else:
        typer.echo(format_summary(result, scenario))
