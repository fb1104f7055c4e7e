"""The Kubernetes manifests, offline: every object against the Kubernetes schemas, KEDA's
objects against KEDA's documented fields (keda_schema.yaml), and what the deployment must
hold together: probes, grace, disruption budgets, requests, the two scaling triggers."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from engine.api.app import create_app
from engine.api.models import ProcessorsTargetPublic
from engine.settings import Settings
from tests.deploy.manifests import (
    KUBERNETES,
    LONG_RUNNING,
    kubernetes_documents,
    kubernetes_objects,
    kustomization,
    pod_spec,
)

KUBERNETES_VERSION = "1.30.0"
KEDA = yaml.safe_load((Path(__file__).parent / "keda_schema.yaml").read_text())
BUILT_IN = [
    (name, doc) for name, doc in kubernetes_documents() if not doc["apiVersion"].startswith("keda.sh/")
]
KEDA_OBJECTS = [
    (name, doc) for name, doc in kubernetes_documents() if doc["apiVersion"].startswith("keda.sh/")
]


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {path.name for path in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize(("name", "document"), BUILT_IN, ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_each_object_is_valid_for_kubernetes(name: str, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_wrong_field_fails_the_kubernetes_check() -> None:
    deployment = dict(kubernetes_objects("Deployment")["headway-scheduler"])
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    ("name", "document"), KEDA_OBJECTS, ids=lambda v: v if isinstance(v, str) else v["kind"]
)
def test_each_keda_object_uses_only_documented_fields(name: str, document: dict[str, Any]) -> None:
    jsonschema.validate(document, KEDA[document["kind"]])


@pytest.mark.parametrize(
    "change",
    [
        lambda so: so["spec"].update(pollingIntervall=30),
        lambda so: so["spec"]["triggers"][0]["metadata"].update(valuelocation="processors"),
        lambda so: so["spec"]["triggers"][1]["metadata"].update(mode="QueueSize"),
        lambda so: so["spec"]["triggers"][0]["metadata"].update(targetValue=1),
    ],
)
def test_a_wrong_keda_field_fails_the_check(change: Any) -> None:
    scaled = yaml.safe_load(yaml.safe_dump(kubernetes_objects("ScaledObject")["headway-processor"]))
    change(scaled)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(scaled, KEDA["ScaledObject"])


def deployments() -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["name"].removeprefix("headway-"): doc
        for doc in kubernetes_objects("Deployment").values()
    }


def test_every_role_has_a_deployment_with_the_documented_replicas() -> None:
    found = deployments()
    assert set(found) == set(LONG_RUNNING)
    replicas = {role: doc["spec"].get("replicas") for role, doc in found.items()}
    # The processor's replicas are KEDA's to set: a fixed number would fight the autoscaler.
    assert replicas == {"scheduler": 2, "distributor": 2, "processor": None, "api": 2, "dashboard": 1}
    job = kubernetes_objects("Job")["headway-db-upgrade"]
    assert pod_spec(job)["containers"][0]["args"] == ["db", "upgrade"]


@pytest.mark.parametrize("role", LONG_RUNNING)
def test_each_long_running_role_has_probes_requests_and_a_disruption_budget(role: str) -> None:
    deployment = deployments()[role]
    container = pod_spec(deployment)["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        action = container[probe]["httpGet"]
        assert action["port"] in ports, (role, probe)
    if role in ("scheduler", "distributor", "processor"):
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        health_port = {item["name"]: item["value"] for item in container["env"]}[
            f"HEADWAY_{role.upper()}_HEALTH_PORT"
        ]
        assert int(health_port) == ports["health"]
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    budgets = [
        pdb
        for pdb in kubernetes_objects("PodDisruptionBudget").values()
        if pdb["spec"]["selector"] == deployment["spec"]["selector"]
    ]
    assert len(budgets) == 1, role


def config() -> dict[str, str]:
    return dict(kubernetes_objects("ConfigMap")["headway-config"]["data"])


def test_the_processor_is_killed_only_after_its_shutdown_grace() -> None:
    grace_s = float(config()["HEADWAY_SHUTDOWN_GRACE_S"])
    termination_s = pod_spec(deployments()["processor"])["terminationGracePeriodSeconds"]
    assert grace_s < termination_s <= grace_s + 15


def test_the_scaled_object_scales_the_processor_on_the_forecast_and_the_queue(tmp_path: Path) -> None:
    scaled = kubernetes_objects("ScaledObject")["headway-processor"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "headway-processor"
    triggers = {trigger["type"]: trigger for trigger in scaled["spec"]["triggers"]}
    assert set(triggers) == {"metrics-api", "rabbitmq"}

    forecast = triggers["metrics-api"]["metadata"]
    url = urlsplit(forecast["url"])
    service, namespace = url.hostname.split(".")[:2]  # type: ignore[union-attr]
    assert namespace == kustomization()["namespace"]
    assert service in kubernetes_objects("Service") and url.port == 8000
    # The path and parameter the API serves, and the field KEDA reads from its answer.
    schema = create_app(f"sqlite:///{tmp_path / 'unused.db'}", settings=Settings()).openapi()
    parameters = {p["name"]: p["schema"] for p in schema["paths"][url.path]["get"]["parameters"]}
    lead = int(parse_qs(url.query)["lead_minutes"][0])
    assert set(parse_qs(url.query)) <= set(parameters)
    assert 0 <= lead <= parameters["lead_minutes"]["anyOf"][0]["maximum"]
    assert forecast["valueLocation"] in ProcessorsTargetPublic.model_fields
    # One replica per processor the answer names (AverageValue: replicas = value / target).
    assert (
        forecast["targetValue"] == "1"
        and triggers["metrics-api"].get("metricType", "AverageValue") == "AverageValue"
    )

    backlog = triggers["rabbitmq"]["metadata"]
    assert backlog["queueName"] == config()["HEADWAY_QUEUE"]
    assert backlog["mode"] == "QueueLength"


def test_trigger_authentications_give_what_each_scaler_reads_from_the_secret() -> None:
    scaled = kubernetes_objects("ScaledObject")["headway-processor"]
    authentications = kubernetes_objects("TriggerAuthentication")
    secrets = {name: set(doc["stringData"]) for name, doc in kubernetes_objects("Secret").items()}
    for trigger in scaled["spec"]["triggers"]:
        auth = authentications[trigger["authenticationRef"]["name"]]
        given = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
        assert given <= set(KEDA["auth_parameters"][trigger["type"]]), trigger["type"]
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["key"] in secrets[ref["name"]], ref
    api_auth = authentications[scaled["spec"]["triggers"][0]["authenticationRef"]["name"]]
    assert scaled["spec"]["triggers"][0]["metadata"]["authMode"] == "bearer"
    assert [ref["key"] for ref in api_auth["spec"]["secretTargetRef"]] == ["HEADWAY_API_TOKEN"]
