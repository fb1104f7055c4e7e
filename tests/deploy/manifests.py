"""The deployment files read as data: Kubernetes documents, the compose file and the systemd
units, and every `headway` invocation they make with the variables it gets."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
COMPOSE = DEPLOY / "compose.yaml"
RULES = DEPLOY / "prometheus" / "headway-rules.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "headway-rules.test.yaml"
HEADWAY_BINARY = "/opt/headway/bin/headway"
LONG_RUNNING = ("scheduler", "distributor", "processor", "api", "dashboard")


@dataclass
class Invocation:
    """`headway ARGS` as a deployment file runs it, with the HEADWAY_* variables it sets."""

    source: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def role(self) -> str:
        return self.args[0]


def kubernetes_documents() -> list[tuple[str, dict[str, Any]]]:
    """(file name, document) for every object of the kustomization's resources."""
    documents = []
    for name in kustomization()["resources"]:
        for document in yaml.safe_load_all((KUBERNETES / name).read_text()):
            if document is not None:
                documents.append((name, document))
    return documents


def kustomization() -> dict[str, Any]:
    return dict(yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text()))


def kubernetes_objects(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in kubernetes_documents() if doc["kind"] == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def kubernetes_invocations() -> list[Invocation]:
    config = {name: doc.get("data", {}) for name, doc in kubernetes_objects("ConfigMap").items()}
    secrets = {name: doc.get("stringData", {}) for name, doc in kubernetes_objects("Secret").items()}
    invocations = []
    for kind in ("Deployment", "Job"):
        for name, workload in kubernetes_objects(kind).items():
            for container in pod_spec(workload)["containers"]:
                env: dict[str, str] = {}
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        env.update(config[source["configMapRef"]["name"]])
                    if "secretRef" in source:
                        env.update(secrets[source["secretRef"]["name"]])
                env.update({item["name"]: item["value"] for item in container.get("env", [])})
                invocations.append(Invocation(f"kubernetes {name}", list(container["args"]), env))
    return invocations


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def compose_invocations() -> dict[str, Invocation]:
    """The Headway services of the compose file by name (those built from the image)."""
    return {
        name: Invocation(f"compose {name}", list(service["command"]), dict(service.get("environment", {})))
        for name, service in compose()["services"].items()
        if str(service.get("image", "")).startswith("headway")
    }


def systemd_units() -> dict[str, dict[str, list[str]]]:
    """Each unit's `[Service]` keys with every value (Environment= may repeat)."""
    units = {}
    for path in sorted(SYSTEMD.glob("*.service")):
        section, keys = "", {}  # type: ignore[var-annotated]
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line.strip("[]")
            elif section == "Service":
                key, _, value = line.partition("=")
                keys.setdefault(key, []).append(value)
        units[path.name] = keys
    return units


def env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def systemd_invocations() -> list[Invocation]:
    shared = env_file(SYSTEMD / "headway.env")
    invocations = []
    for name, keys in systemd_units().items():
        env = dict(shared)
        for assignment in keys.get("Environment", []):
            key, _, value = assignment.partition("=")
            env[key] = value
        for command in keys["ExecStart"]:
            words = shlex.split(command)
            assert words[0] == HEADWAY_BINARY, (name, command)
            invocations.append(Invocation(f"systemd {name}", words[1:], env))
    return invocations


def all_invocations() -> list[Invocation]:
    return kubernetes_invocations() + list(compose_invocations().values()) + systemd_invocations()
