"""The alert rules: promtool accepts them and its rule tests pass, and every metric they name
is one the API's /metrics exports."""

from __future__ import annotations

import re
import subprocess
import warnings
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from engine.adapters.database import create_db_engine
from engine.adapters.migrations import upgrade
from engine.api.app import create_app
from engine.core.types import ScheduleStatus
from engine.settings import Settings
from tests.deploy.manifests import RULE_TESTS, RULES

with warnings.catch_warnings():
    # Starlette asks for httpx2 in future; the client works the same with httpx.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

REQUIRED_ALERTS = {
    "HeadwayStartLagHigh",
    "HeadwayOverdueRows",
    "HeadwayDeadLettersGrowing",
    "HeadwayForecastAboveRunningSlots",
    "HeadwayNoLiveProcessor",
    "HeadwaySchedulerNotPassing",
}
SAMPLE_SUFFIXES = ("_bucket", "_sum", "_count")


def rules() -> list[dict[str, str]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


@pytest.mark.xdist_group("promtool")
def test_promtool_accepts_the_rules(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


@pytest.mark.xdist_group("promtool")
def test_the_rules_fire_as_their_promtool_tests_expect(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        check=False,
        cwd=RULES.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.xdist_group("promtool")
def test_promtool_refuses_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        RULES.read_text().replace("max(headway_overdue_tasks) > 0", "max(headway_overdue_tasks > 0")
    )
    result = subprocess.run(
        [promtool, "check", "rules", str(broken)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0


def test_every_alert_operations_needs_is_there() -> None:
    assert {rule["alert"] for rule in rules()} >= REQUIRED_ALERTS


def exported_metrics(tmp_path: Path) -> set[str]:
    """Family and sample names /metrics serves, on an empty migrated database."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'metrics.db'}")
    upgrade(engine)
    try:
        with TestClient(
            create_app(engine, settings=Settings(broker_url="memory://", api_token=None))
        ) as client:
            text = client.get("/metrics").text
    finally:
        engine.dispose()
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    # A family without samples (no cron task: no coverage) still declares itself.
    names.update(re.findall(r"^# TYPE (\w+) ", text, re.MULTILINE))
    return names


def test_every_metric_the_rules_name_is_exported(tmp_path: Path) -> None:
    exported = exported_metrics(tmp_path)
    named = {name for rule in rules() for name in re.findall(r"\bheadway_\w+", rule["expr"])}
    assert len(named) >= 8
    missing = {
        name for name in named if name not in exported and name.removesuffix("_bucket") not in exported
    }
    assert not missing, f"not on /metrics: {sorted(missing)}"
    # Label values too: the status a rule filters on is one the metric carries.
    statuses = {value for rule in rules() for value in re.findall(r'status="(\w+)"', rule["expr"])}
    assert statuses <= {status.value for status in ScheduleStatus}
