"""Every variable of the README's configuration table changes what `headway up` runs and what
the separate process that reads it runs, and both build the same configuration from it.

The table is parsed from the README, so a variable added there without being honoured (or
without an example value here) fails this test. Each command is run through the CLI with its
`serve` replaced by a recorder: the configuration is everything a process is started with.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import click.testing
import pytest
import typer.main
from typer.testing import CliRunner

from engine.cli import app
from engine.commands import api, dashboard, distributor, processor, scheduler, up
from engine.process_configs import UpConfig

README = Path(__file__).resolve().parents[2] / "README.md"
AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"
# `serve` is replaced: no database is opened and no broker is reached.
BASE_ENV = {"HEADWAY_DATABASE_URL": "sqlite:///./never-opened.db", "HEADWAY_BROKER_URL": AMQP}

# A valid value other than the default for each variable of the table.
EXAMPLES = {
    "HEADWAY_DATABASE_URL": "sqlite:///./other.db",
    "HEADWAY_BROKER_URL": "amqp://other:secret@127.0.0.1:5672/%2F",
    "HEADWAY_CAPACITY_MS": "12000",
    "HEADWAY_BUFFER": "0.2",
    "HEADWAY_FORECAST_HOURS": "5",
    "HEADWAY_SCHEDULER_INTERVAL_S": "30",
    "HEADWAY_SCHEDULER_WINDOW_HOURS": "48",
    "HEADWAY_RETENTION_DAYS": "7",
    "HEADWAY_DASHBOARD": "false",
    "HEADWAY_DEMO": "false",
    "HEADWAY_DASHBOARD_PORT": "8600",
    "HEADWAY_DASHBOARD_ADDRESS": "127.0.0.2",  # beyond loopback it would need a token
    "HEADWAY_DASHBOARD_INSECURE_NO_AUTH": "true",
    "HEADWAY_API_HOST": "0.0.0.0",
    "HEADWAY_API_PORT": "8100",
    "HEADWAY_API_TOKEN": "s3cret",
    "HEADWAY_QUEUE": "other",
    "HEADWAY_QUEUE_TYPE": "classic",
    "HEADWAY_DISTRIBUTOR_BATCH_SIZE": "50",
    "HEADWAY_DISTRIBUTOR_POLL_INTERVAL_S": "0.2",
    "HEADWAY_DISTRIBUTOR_LEASE_S": "45",
    "HEADWAY_RECONCILE_INTERVAL_S": "20",
    "HEADWAY_RECONCILE_QUEUED_AFTER_S": "900",
    "HEADWAY_PROCESSOR_CONCURRENCY": "8",
    "HEADWAY_PROCESSOR_PREFETCH": "3",
    "HEADWAY_PROCESSOR_LEASE_S": "40",
    "HEADWAY_PROCESSOR_HEARTBEAT_S": "2",
    "HEADWAY_RETRY_BASE_MS": "250",
    "HEADWAY_RETRY_MAX_MS": "4000",
    "HEADWAY_SHUTDOWN_GRACE_S": "7",
    "HEADWAY_OUTBOUND_ALLOW": "10.0.0.0/8",
    "HEADWAY_REMINDER_URL": "https://example.org/remind",
    "HEADWAY_NOTIFICATION_URL": "https://example.org/notify",
    "HEADWAY_SCALING_LEAD_MINUTES": "30",
    "HEADWAY_SCALING_COOLDOWN_MINUTES": "10",
    "HEADWAY_HEALTH_ADDRESS": "0.0.0.0",
    "HEADWAY_SCHEDULER_HEALTH_PORT": "9101",
    "HEADWAY_DISTRIBUTOR_HEALTH_PORT": "9102",
    "HEADWAY_PROCESSOR_HEALTH_PORT": "9103",
    "HEADWAY_HEALTH_STALL_S": "60",
}
# Not a process configuration: every command's `serve` hands it to `logging` through
# `setup_logging`, which checks it by the rules of `Settings` (see the last test).
NOT_A_CONFIG = {"HEADWAY_LOG_LEVEL"}
# Settings of `headway up` alone (what it serves beside the processes).
UP_ONLY = {"HEADWAY_DASHBOARD", "HEADWAY_DEMO"}
# Health endpoints of the separate processes: `headway up` is one process, whose API serves
# /livez and /readyz for all of it.
SEPARATE_ONLY = {
    "HEADWAY_HEALTH_ADDRESS",
    "HEADWAY_SCHEDULER_HEALTH_PORT",
    "HEADWAY_DISTRIBUTOR_HEALTH_PORT",
    "HEADWAY_PROCESSOR_HEALTH_PORT",
    "HEADWAY_HEALTH_STALL_S",
}
# Built once: Typer would build the whole command tree again on every invocation.
HEADWAY = typer.main.get_command(app)
SEPARATE = {
    "scheduler": scheduler,
    "distributor": distributor,
    "processor": processor,
    "api": api,
    "dashboard": dashboard,
}


def readme_variables() -> list[str]:
    return [
        line.split("|")[1].strip().strip("`")
        for line in README.read_text().splitlines()
        if line.startswith("| `HEADWAY_")
    ]


def _variables_of(command: str) -> set[str]:
    click_command = HEADWAY.commands[command]  # type: ignore[attr-defined]
    return {param.envvar for param in click_command.params if isinstance(param.envvar, str)}


def _normal(value: Any) -> Any:
    """`value` with the random process ids replaced, so two runs compare equal."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            field.name: "id" if field.name.endswith("_id") else _normal(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(_normal(item) for item in value)
    return value


def _started_with(command: str, env: dict[str, str]) -> tuple[Any, ...]:
    """What `headway COMMAND` starts its process with, given `env`."""
    return _started_with_cached(command, tuple(sorted(env.items())))


@functools.cache
def _started_with_cached(command: str, env: tuple[tuple[str, str], ...]) -> tuple[Any, ...]:
    module = up if command == "up" else SEPARATE[command]
    seen: list[tuple[Any, ...]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "serve", lambda *args: seen.append(args))
        args = [command, "--once"] if command == "scheduler" else [command]  # no signal handlers
        result = click.testing.CliRunner().invoke(HEADWAY, args, env=BASE_ENV | dict(env))
    assert result.exit_code == 0, result.output
    assert len(seen) == 1
    return tuple(_normal(arg) for arg in seen[0])


def test_the_examples_cover_the_readme_table() -> None:
    assert set(readme_variables()) - NOT_A_CONFIG == set(EXAMPLES)


@pytest.mark.parametrize("variable", [v for v in readme_variables() if v not in NOT_A_CONFIG])
def test_each_variable_changes_headway_up_and_the_separate_process(variable: str) -> None:
    if variable not in SEPARATE_ONLY:
        assert variable in _variables_of("up"), f"`headway up` has no option for {variable}"
        assert _started_with("up", {variable: EXAMPLES[variable]}) != _started_with("up", {})
    commands = [name for name in SEPARATE if variable in _variables_of(name)]
    assert commands or variable in UP_ONLY, f"no separate process reads {variable}"
    for command in commands:
        changed = _started_with(command, {variable: EXAMPLES[variable]})
        assert changed != _started_with(command, {}), command


def test_headway_up_builds_each_part_as_its_separate_process_does() -> None:
    env = dict(EXAMPLES)
    (config,) = _started_with("up", env | {"HEADWAY_DASHBOARD": "true"})
    assert isinstance(config, UpConfig)
    database_url, scaling, scheduler_config, *_ = _started_with("scheduler", env)
    assert (config.database_url, config.scaling, config.scheduler) == (
        database_url,
        scaling,
        scheduler_config,
    )
    assert _started_with("distributor", env)[1:3] == (
        config.broker,
        config.distributor,
    )
    assert _started_with("processor", env)[1:4] == (
        config.broker,
        config.handlers,
        config.processor,
    )
    assert _started_with("api", env)[0] == config.api
    assert _started_with("dashboard", env) == (config.dashboard,)


@pytest.mark.parametrize("command", ["up", "processor"])
def test_a_heartbeat_not_shorter_than_the_lease_exits_2(command: str, tmp_path: Path) -> None:
    env = {
        "HEADWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
        "HEADWAY_BROKER_URL": AMQP,
        "HEADWAY_PROCESSOR_LEASE_S": "10",
        "HEADWAY_PROCESSOR_HEARTBEAT_S": "10",
    }
    result = CliRunner().invoke(app, [command], env=env)
    assert result.exit_code == 2
    assert "(10) must be shorter than" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "h.db").exists()


@pytest.mark.parametrize("command", ["up", "scheduler"])
def test_a_bad_log_level_exits_2_before_touching_the_database(command: str, tmp_path: Path) -> None:
    env = {
        "HEADWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
        "HEADWAY_LOG_LEVEL": "loud",
    }
    result = click.testing.CliRunner().invoke(HEADWAY, [command], env=env)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: HEADWAY_LOG_LEVEL: Input should be 'DEBUG'")
    assert not (tmp_path / "h.db").exists()
