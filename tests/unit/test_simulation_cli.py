"""The command as a user runs it: exit codes, --json, --csv, --report, bad input on stderr."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from simulation.cli import simulate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "simulation" / "examples" / "fleet.yaml"
START = "2026-12-01T08:00:00Z"

app = typer.Typer()
app.command()(simulate)
runner = CliRunner()

SMALL = """\
task_types:
  report: {duration: {model: fixed, mean_ms: 450}}
tasks:
  - {name: reports, task_type: report, cron: "*/5 * * * *", count: 100}
"""


def run(*arguments: str, env: dict[str, str] | None = None):
    return runner.invoke(app, list(arguments), env=env)


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return path


def test_pass_exits_zero_and_prints_a_summary(small):
    result = run(str(small), "--start", START, "--hours", "0.5")
    assert result.exit_code == 0, result.output
    assert "Verdict     PASS" in result.output
    assert "Tasks       600" in result.output


def test_fail_exits_one(small):
    result = run(
        str(small), "--start", START, "--hours", "0.5", "--instances", "2", "--concurrency", "1"
    )
    assert result.exit_code == 1
    assert "Verdict     FAIL" in result.output


def test_json_has_the_documented_fields(small):
    result = run(str(small), "--start", START, "--hours", "0.5", "--json", "--replications", "2")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["tasks"] == 1200
    assert document["on_time_pct"] == 100.0
    assert set(document["start_delay_s"]) == {"mean", "p50", "p95", "p99", "max"}
    assert document["instance_minutes"] > 0
    assert document["peak_instances"] == 5  # 100 x 450 ms = 45,000 ms = 5 x 9,000
    assert document["target_s"] == 10.0
    assert document["verdict"] == "pass"
    # The formula's fleet changes, and processors have the engine's 4 slots: SimPy.
    assert document["engine"] == "simpy"
    assert len(document["replications"]) == 2


def test_options_are_read_from_the_environment(small):
    env = {
        "HEADWAY_SIM_INSTANCES": "2",
        "HEADWAY_SIM_CONCURRENCY": "1",
        "HEADWAY_SIM_HOURS": "0.5",
        "HEADWAY_SIM_START": START,
        "HEADWAY_SIM_JSON": "1",
    }
    result = run(str(small), env=env)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["verdict"] == "fail"


def test_same_seed_same_json():
    arguments = [str(EXAMPLE), "--start", START, "--hours", "1", "--json", "--seed", "4"]
    first, second = run(*arguments), run(*arguments)
    assert first.stdout == second.stdout
    assert run(*arguments[:-1], "5").stdout != first.stdout


def test_csv_and_report_are_written(small, tmp_path):
    table, page = tmp_path / "series.csv", tmp_path / "report.html"
    result = run(
        str(small),
        "--start",
        START,
        "--hours",
        "0.5",
        "--csv",
        str(table),
        "--report",
        str(page),
        "--instances",
        "corrected",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 30
    assert set(rows[0]) >= {
        "minute",
        "tasks",
        "required_instances",
        "target_instances",
        "provided_instances",
        "delay_mean_s",
        "delay_p95_s",
        "delay_max_s",
    }
    assert rows[0]["tasks"] == "100" and rows[1]["tasks"] == "0"
    assert rows[0]["required_instances"] == "5"
    html = page.read_text()
    assert "vega" in html and "provided_instances" in html


def test_bad_yaml_names_line_and_field_on_stderr(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(SMALL.replace('"*/5 * * * *"', '"*/5 * * *"'))
    result = run(str(path), "--start", START)
    assert result.exit_code == 2
    assert f"{path}:4: tasks[0].cron: expected 5 fields" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--instances", "zero"], "--instances"),
        (["--instances", "abc"], "--instances"),
        (["--instances", "0"], "--instances"),
        (["--instances", "100000000000000000000"], "--instances"),
        (["--instances", "5", "--max-instances", "3"], "--instances"),
        (["--instances", "5", "--min-instances", "8"], "--instances"),
        (["--engine", "fast", "--prefetch", "4"], "--engine"),
        (["--engine", "warp"], "--engine"),
        (["--start", "yesterday"], "--start"),
        (["--start", "9999-12-31T23:00:00Z"], "--start"),
        (["--start", "0001-01-01T00:00:00Z"], "--start"),
        (["--hours", "0"], "--hours"),
        (["--hours", "0.001"], "--hours"),
        (["--hours", "nan"], "--hours"),
        (["--hours", "inf"], "--hours"),
        (["--hours", "1e12"], "--hours"),
        (["--min-instances", "0"], "--min-instances"),
        (["--min-instances", "5", "--max-instances", "3"], "--max-instances"),
        (["--buffer", "1"], "--buffer"),
        (["--buffer", "1.5"], "--buffer"),
        (["--buffer", "nan"], "--buffer"),
        (["--capacity-ms", "0"], "--capacity-ms"),
        (["--target-s", "0.5", "--instances", "corrected"], "--target-s"),
        (["--target-s", "0"], "--target-s"),
        (["--target-s", "nan"], "--target-s"),
        (["--target-s", "inf"], "--target-s"),
        (["--poll-interval-s", "-1"], "--poll-interval-s"),
        (["--poll-interval-s", "nan"], "--poll-interval-s"),
        (["--poll-interval-s", "inf"], "--poll-interval-s"),
        (["--scale-up-lag-s", "inf"], "--scale-up-lag-s"),
        (["--scale-up-lag-s", "nan"], "--scale-up-lag-s"),
        (["--dispatch-overhead-ms", "inf"], "--dispatch-overhead-ms"),
        (["--dispatch-overhead-ms", "-5"], "--dispatch-overhead-ms"),
        (["--prefetch", "0"], "--prefetch"),
        (["--concurrency", "0"], "--concurrency"),
        (["--concurrency", "1001"], "--concurrency"),
        (["--engine", "fast", "--concurrency", "2"], "--engine"),
        (["--retry-base-ms", "-1"], "--retry-base-ms"),
        (["--tail-z", "nan", "--instances", "corrected"], "--tail-z"),
        (["--tail-z", "-1"], "--tail-z"),
        (["--seed", "-1"], "--seed"),
        (["--replications", "0"], "--replications"),
    ],
)
def test_bad_options_exit_two_naming_the_option(small, arguments, option):
    result = run(str(small), *arguments)
    assert result.exit_code == 2, result.output  # 1 would be a traceback (or a fail verdict)
    assert result.stderr.startswith(f"error: {option}: ")
    assert result.stdout == ""


def test_from_db_with_a_file_is_refused_naming_both(small):
    result = run(str(small), "--from-db")
    assert result.exit_code == 2
    assert "--from-db and a workload file" in result.stderr
    from_env = run("--from-db", env={"HEADWAY_SIM_WORKLOAD": str(small)})
    assert from_env.exit_code == 2
    assert "HEADWAY_SIM_WORKLOAD" in from_env.stderr


def test_a_rule_asking_for_more_than_a_million_instances_is_bad_input(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(
        "task_types:\n  long: {duration: {model: fixed, mean_ms: 2000000000}}\n"
        "tasks:\n  - {name: long, task_type: long, cron: '0 * * * *', count: 10000}\n"
    )
    result = run(str(path), "--start", START)
    assert result.exit_code == 2
    assert "formula asks for 2,222,222,223 instances at 2026-12-01 08:00 UTC" in result.stderr
    assert "--max-instances" in result.stderr
    capped = run(str(path), "--start", START, "--hours", "1", "--max-instances", "100", "--csv",
                 str(tmp_path / "capped.csv"))
    assert capped.exit_code == 1  # far too few, and honest about it, in well under a second
    rows = list(csv.DictReader((tmp_path / "capped.csv").open()))
    assert len(rows) == 60 + 24 * 60  # the window, then at most a day of draining


def test_a_window_with_too_many_tasks_names_the_task(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(
        "task_types:\n  r: {duration: {model: fixed, mean_ms: 1}}\n"
        "tasks:\n  - {name: small, task_type: r, cron: '* * * * *'}\n"
        "  - {name: many, task_type: r, cron: '* * * * *', count: 1000000}\n"
    )
    result = run(str(path), "--start", START)
    assert result.exit_code == 2
    assert "tasks[1] (many): 180,000,000 tasks in the window" in result.stderr


def test_no_task_due_in_the_window_passes_with_a_warning(tmp_path):
    path = tmp_path / "later.yaml"
    path.write_text(
        "task_types:\n  r: {duration: {model: fixed, mean_ms: 1}}\n"
        "tasks:\n  - {name: later, task_type: r, run_at: '2027-01-01T00:00:00Z'}\n"
    )
    result = run(str(path), "--start", START, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["tasks"] == 0
    assert "warning: no task is due in 2026-12-01 08:00 to 2026-12-01 11:00 UTC" in result.stderr


def test_missing_file_and_missing_source_exit_two(tmp_path):
    assert run(str(tmp_path / "nope.yaml")).exit_code == 2
    assert run().exit_code == 2


def test_python_dash_m_simulation_runs_the_example():
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "simulation",
            str(EXAMPLE),
            "--start",
            START,
            "--json",
            "--instances",
            "corrected",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["verdict"] == "pass"


def test_the_pipeline_example_runs_its_chain_after_the_upstreams_expected_end():
    pipeline = ROOT / "simulation" / "examples" / "pipeline.yaml"
    result = run(str(pipeline), "--start", "2026-12-01T02:00:00Z", "--hours", "2", "--json")
    assert result.exit_code in (0, 1), result.output
    document = json.loads(result.stdout)
    # extract 1 + load 1 + reports 20 + sync (90 s, queued: 80 in 2 h) + billing 2 x 24.
    assert document["tasks"] == 1 + 1 + 20 + 80 + 48
    # Lags count from fire times, as docs/simulation.md shows: the chain's 22 runs start on
    # time; sync's k-th run lags 30k s (only the first is on time, the 80th lags 2,370 s);
    # billing-b waits 30 s for billing-a on their key each time (24 of 48 on time).
    assert document["on_time_pct"] == pytest.approx(100 * (22 + 1 + 24) / 150)
    assert document["start_delay_s"]["max"] == pytest.approx(79 * 30, abs=0.01)
    assert document["verdict"] == "fail"


FAILING_UPSTREAM = """\
task_types:
  extract: {duration: {model: fixed, mean_ms: 60000}, failure_probability: 1, max_attempts: 2}
  load: {duration: {model: fixed, mean_ms: 30000}}
tasks:
  - {name: extract, task_type: extract, cron: "*/10 * * * *"}
  - {name: load, task_type: load, after: {task: extract, on: success}, count: 5}
  - {name: report, task_type: load, after: {task: extract, on: finished}, count: 2}
"""


def test_after_tasks_follow_their_upstreams_outcome_and_retries(tmp_path):
    path = tmp_path / "chain.yaml"
    path.write_text(FAILING_UPSTREAM)
    result = run(str(path), "--start", START, "--hours", "1", "--json")
    assert result.exit_code in (0, 1), result.output
    # Six extracts, each dead after two attempts: no load, two reports after each.
    assert json.loads(result.stdout)["tasks"] == 6 + 12
    # With a 10-minute backoff the last extract (08:50) ends at 09:02, past the window.
    slow = run(
        str(path), "--start", START, "--hours", "1", "--json",
        "--retry-base-ms", "600000", "--retry-max-ms", "600000",
    )
    assert slow.exit_code in (0, 1), slow.output
    assert json.loads(slow.stdout)["tasks"] == 6 + 10
