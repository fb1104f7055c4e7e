"""The simulator starts from the engine's own parameters: these tests fail if they drift."""

import inspect
import re
from pathlib import Path

import pytest

from engine.processes.distributor import DistributorConfig
from engine.processes.processor import ProcessorConfig
from engine.settings import default_setting
from simulation.cli import simulate
from simulation.defaults import DEFAULT_MAX_ATTEMPTS, ENGINE_DEFAULTS
from simulation.outcome import Dispatch
from simulation.workload import parse_workload

ROOT = Path(__file__).resolve().parents[2]


def test_engine_defaults_are_the_settings_defaults():
    assert ENGINE_DEFAULTS.poll_interval_s == default_setting("distributor_poll_interval_s")
    assert ENGINE_DEFAULTS.concurrency == default_setting("processor_concurrency")
    assert ENGINE_DEFAULTS.prefetch == default_setting("processor_prefetch")
    assert ENGINE_DEFAULTS.retry_base_ms == default_setting("retry_base_ms")
    assert ENGINE_DEFAULTS.retry_max_ms == default_setting("retry_max_ms")


def test_the_processes_own_defaults_agree():
    processor = ProcessorConfig("p")
    assert (processor.concurrency, processor.prefetch) == (
        ENGINE_DEFAULTS.concurrency,
        ENGINE_DEFAULTS.prefetch,
    )
    assert (processor.backoff_base_ms, processor.backoff_max_ms) == (
        ENGINE_DEFAULTS.retry_base_ms,
        ENGINE_DEFAULTS.retry_max_ms,
    )
    assert DistributorConfig("d").poll_interval_s == ENGINE_DEFAULTS.poll_interval_s


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_the_schema_default_of_max_attempts_agrees(dialect):
    schema = (ROOT / "sql" / dialect / "0001_schema.sql").read_text()
    match = re.search(r"max_attempts\s+INTEGER NOT NULL DEFAULT (\d+)", schema)
    assert match is not None
    assert int(match.group(1)) == DEFAULT_MAX_ATTEMPTS


def test_the_command_and_the_model_default_to_the_engine():
    options = inspect.signature(simulate).parameters
    assert options["poll_interval_s"].default == ENGINE_DEFAULTS.poll_interval_s
    assert options["concurrency"].default == ENGINE_DEFAULTS.concurrency
    assert options["prefetch"].default == ENGINE_DEFAULTS.prefetch
    assert options["dispatch_overhead_ms"].default == ENGINE_DEFAULTS.dispatch_overhead_ms
    assert options["retry_base_ms"].default == ENGINE_DEFAULTS.retry_base_ms
    assert options["retry_max_ms"].default == ENGINE_DEFAULTS.retry_max_ms
    dispatch = Dispatch()
    assert dispatch.poll_interval_us == round(ENGINE_DEFAULTS.poll_interval_s * 1e6)
    assert dispatch.concurrency == ENGINE_DEFAULTS.concurrency
    assert dispatch.unsettled_limit == ProcessorConfig("p").unsettled_limit
    assert (dispatch.retry_base_ms, dispatch.retry_max_ms) == (
        ENGINE_DEFAULTS.retry_base_ms,
        ENGINE_DEFAULTS.retry_max_ms,
    )
    assert Dispatch.from_units().poll_interval_us == dispatch.poll_interval_us


def test_a_workload_type_defaults_to_the_schema_attempts():
    workload = parse_workload(
        "task_types:\n  r: {duration: {model: fixed, mean_ms: 10}}\n"
        "tasks:\n  - {name: a, task_type: r, rate_per_min: 1}\n"
    )
    assert workload.attempts["r"].max_attempts == DEFAULT_MAX_ATTEMPTS
    assert not workload.attempts["r"].can_fail
