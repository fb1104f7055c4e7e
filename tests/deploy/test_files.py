"""The image, the compose file and the systemd units hold what an operator relies on: a slim
non-root image whose command picks the role, PostgreSQL and RabbitMQ beside every role,
health checks on the ports the roles serve, and a stop timeout past the shutdown grace."""

from __future__ import annotations

import re

from tests.deploy.manifests import (
    COMPOSE,
    LONG_RUNNING,
    ROOT,
    SYSTEMD,
    compose,
    compose_invocations,
    env_file,
    systemd_units,
)


def duration_s(text: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)?", str(text))
    assert match, text
    return int(match[1]) * (60 if match[2] == "m" else 1)


def test_the_image_is_slim_non_root_and_runs_headway() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")) :]
    assert re.fullmatch(r"FROM python:3\.\d+-slim", final_stage[0])
    user = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert 'ENTRYPOINT ["headway"]' in final_stage


def test_compose_runs_the_servers_and_every_role_after_the_migration() -> None:
    services = compose()["services"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["rabbitmq"]["image"].startswith("rabbitmq:")
    roles = compose_invocations()
    assert {invocation.role for invocation in roles.values()} == {*LONG_RUNNING, "db"}
    for name in roles:
        if name != "migrate":
            assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_health_checks_probe_the_port_each_role_serves() -> None:
    services = compose()["services"]
    for name, invocation in compose_invocations().items():
        if invocation.role not in ("scheduler", "distributor", "processor", "api"):
            continue
        check = " ".join(services[name]["healthcheck"]["test"])
        port = re.search(r"127\.0\.0\.1:(\d+)/readyz", check)
        assert port, (name, check)
        served = (
            invocation.args[invocation.args.index("--port") + 1]
            if invocation.role == "api"
            else invocation.env[f"HEADWAY_{invocation.role.upper()}_HEALTH_PORT"]
        )
        assert port[1] == served, name


def test_compose_and_systemd_stop_the_processor_after_its_grace() -> None:
    processor = compose()["services"]["processor"]
    grace_s = float(compose_invocations()["processor"].env["HEADWAY_SHUTDOWN_GRACE_S"])
    assert grace_s < duration_s(processor["stop_grace_period"]) <= grace_s + 15
    unit = systemd_units()["headway-processor@.service"]
    grace_s = float(env_file(SYSTEMD / "headway.env")["HEADWAY_SHUTDOWN_GRACE_S"])
    assert grace_s < duration_s(unit["TimeoutStopSec"][0]) <= grace_s + 15
    assert unit["KillSignal"] == ["SIGTERM"]


def test_each_systemd_role_restarts_as_an_unprivileged_user_after_the_migration() -> None:
    units = systemd_units()
    assert {name.split("@")[0].removesuffix(".service") for name in units} == {
        *(f"headway-{role}" for role in LONG_RUNNING),
        "headway-migrate",
    }
    for name, keys in units.items():
        assert keys["User"] == ["headway"], name
        assert keys["EnvironmentFile"] == ["/etc/headway/headway.env"], name
        if name != "headway-migrate.service":
            assert keys["Restart"] == ["on-failure"], name
            text = (SYSTEMD / name).read_text()
            assert "Requires=headway-migrate.service" in text and "After=" in text, name
    assert COMPOSE.exists()
