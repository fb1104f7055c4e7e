"""Every command, option and HEADWAY_* variable the deployment files use exists in the CLI
and in `Settings`, with a value `Settings` accepts: they cannot drift apart silently."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from pydantic import ValidationError

from engine.cli import app
from engine.settings import ENV_PREFIX, Settings, validate_setting
from tests.deploy.manifests import (
    LONG_RUNNING,
    Invocation,
    all_invocations,
    compose_invocations,
    kubernetes_invocations,
    systemd_invocations,
)

CLI = typer.main.get_command(app)


def resolve(args: list[str]) -> tuple[Any, list[str]]:
    """The (sub)command `args` names (Typer's click objects) and the words after it."""
    command: Any = CLI
    words = list(args)
    while getattr(command, "commands", None) and words and not words[0].startswith("-"):
        found = command.commands.get(words[0])
        assert found is not None, f"no command {words[0]!r} in `headway {' '.join(args)}`"
        command, words = found, words[1:]
    assert not getattr(command, "commands", None), f"`headway {' '.join(args)}` names a group"
    return command, words


def options(command: Any) -> dict[str, Any]:
    return {
        flag: param
        for param in command.params
        for flag in [*param.opts, *getattr(param, "secondary_opts", [])]
        if flag.startswith("-")
    }


def check_invocation(invocation: Invocation) -> None:
    command, words = resolve(invocation.args)
    known = options(command)
    while words:
        flag = words.pop(0)
        assert flag in known, f"{invocation.source}: `headway {command.name}` has no option {flag}"
        param = known[flag]
        if getattr(param, "is_flag", False):
            continue
        value = words.pop(0)
        envvar = getattr(param, "envvar", None)
        if isinstance(envvar, str) and "%" not in value:  # %i: a systemd template's instance
            validate_setting(envvar.removeprefix(ENV_PREFIX).lower(), value)
    for variable, value in invocation.env.items():
        if not variable.startswith(ENV_PREFIX):
            continue
        field = variable.removeprefix(ENV_PREFIX).lower()
        assert field in Settings.model_fields, f"{invocation.source}: {variable} is no setting"
        try:
            validate_setting(field, value)
        except ValidationError as error:
            raise AssertionError(f"{invocation.source}: {variable}={value!r}: {error}") from None


@pytest.mark.parametrize("invocation", all_invocations(), ids=lambda i: f"{i.source}: {' '.join(i.args)}")
def test_each_invocation_uses_existing_commands_options_and_settings(invocation: Invocation) -> None:
    check_invocation(invocation)


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["schedulr"], {}),
        (["processor", "--health-prot", "8081"], {}),
        (["processor"], {"HEADWAY_PROCESOR_CONCURRENCY": "4"}),
        (["processor"], {"HEADWAY_PROCESSOR_CONCURRENCY": "0"}),
        (["api", "--port", "99999"], {}),
        (["db"], {}),
    ],
)
def test_the_check_catches_a_drifted_invocation(args: list[str], env: dict[str, str]) -> None:
    with pytest.raises((AssertionError, ValidationError)):
        check_invocation(Invocation("example", args, env))


@pytest.mark.parametrize(
    "invocations",
    [kubernetes_invocations(), list(compose_invocations().values()), systemd_invocations()],
    ids=["kubernetes", "compose", "systemd"],
)
def test_each_deployment_runs_every_role_and_the_migration(invocations: list[Invocation]) -> None:
    roles = {
        " ".join(invocation.args[:2]) if invocation.role == "db" else invocation.role
        for invocation in invocations
    }
    assert roles == {*LONG_RUNNING, "db upgrade"}


@pytest.mark.parametrize("invocation", all_invocations(), ids=lambda i: f"{i.source}: {' '.join(i.args)}")
def test_scheduler_distributor_and_processor_serve_their_health_endpoint(invocation: Invocation) -> None:
    if invocation.role not in ("scheduler", "distributor", "processor"):
        return
    variable = f"HEADWAY_{invocation.role.upper()}_HEALTH_PORT"
    assert "--health-port" in invocation.args or variable in invocation.env, invocation.source
