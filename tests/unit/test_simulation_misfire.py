"""Misfire policies, per-task timeouts and attempts, and keys held through retries in the
simulator: each expected answer is worked out by hand in the test."""

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from engine.core.forecast_policies import misfire_skips
from engine.core.policies import MisfirePolicy, SkipReason, TaskPolicies
from simulation.arrivals import Arrivals, expand, window_for
from simulation.cli import simulate as simulate_command
from simulation.outcome import Dispatch
from simulation.run import Engine, Scenario, simulate
from simulation.workload import WorkloadError, parse_workload

START = datetime(2026, 12, 1, 8, tzinfo=UTC)
S = 1_000_000
BACKOFF_MS = (1_000, 300_000)

QUEUED = """
task_types:
  slow: {{duration: {{model: fixed, mean_ms: 90000}}}}
tasks:
  - {{name: sync, task_type: slow, cron: "* * * * *", overlap: {overlap}, {policy}}}
"""


def arrivals_of(text: str, hours: float = 0.1) -> Arrivals:
    return expand(parse_workload(text), window_for(START, hours), np.random.default_rng(0), BACKOFF_MS)


def seconds(values: np.ndarray) -> list[float]:
    return [value / S for value in values.tolist()]


def due_of(arrivals: Arrivals, type_name: str) -> list[float]:
    type_id = arrivals.type_names.index(type_name)
    return seconds(arrivals.scheduled_us[arrivals.type_ids == type_id])


def test_the_core_decision_on_offsets_is_decide_claims() -> None:
    skip_missed = TaskPolicies(misfire=MisfirePolicy.SKIP_MISSED, misfire_grace_s=10)
    run_latest = TaskPolicies(misfire=MisfirePolicy.RUN_LATEST, misfire_grace_s=10)
    # At 90 s, fire times 0 (90 s late) and 60 s (30 s late) with a 10 s grace.
    assert misfire_skips(skip_missed, [0, 60 * S], 90 * S) == {0: SkipReason.MISSED, 1: SkipReason.MISSED}
    assert misfire_skips(run_latest, [0, 60 * S], 90 * S) == {0: SkipReason.COALESCED}
    # Exactly the grace late is on time, a microsecond more is missed.
    assert misfire_skips(skip_missed, [0], 10 * S) == {}
    assert misfire_skips(skip_missed, [0], 10 * S + 1) == {0: SkipReason.MISSED}
    assert misfire_skips(TaskPolicies(), [0, 60 * S], 3_600 * S) == {}


@pytest.mark.parametrize(
    ("policy", "runs", "skipped", "counts"),
    [
        # Every minute, runs of 90 s, one at a time (queue), 6 minutes. :00 runs until 1:30;
        # :01 would start then, 30 s late (> 10 s): missed. :02 finds nothing in flight and runs
        # on time until 3:30; :03 missed; :04 runs; :05 missed.
        ("misfire: skip_missed, misfire_grace_s: 10", [0, 120, 240], [60, 180, 300], (0, 3)),
        # With a 40 s grace :01 (30 s late) runs at 1:30 until 3:00; :02 is then 60 s late:
        # missed; :03 runs at 3:00 on time until 4:30; :04 runs at 4:30, 30 s late; :05 would
        # start at 6:00, past the window.
        ("misfire: skip_missed, misfire_grace_s: 40", [0, 90, 180, 270], [120], (0, 1)),
        # run_latest, 10 s grace: :01 is the only one waiting at 1:30 and runs (the latest
        # runs however late); at 3:00 :02 (60 s late) and :03 wait: :02 is coalesced into :03,
        # which runs until 4:30; :04 runs then.
        ("misfire: run_latest, misfire_grace_s: 10", [0, 90, 180, 270], [120], (1, 0)),
        # The default grace, 60 s: :01 runs at 1:30 until 3:00; at 3:00 :02 is exactly 60 s
        # late, on time, so it runs (with :03 waiting) until 4:30; then :03 is 90 s late and
        # :04 waits: :03 is coalesced into :04, which runs at 4:30.
        ("misfire: run_latest", [0, 90, 180, 270], [180], (1, 0)),
        # run_all: today's queue, every fire time at the previous run's end.
        ("misfire: run_all", [0, 90, 180, 270], [], (0, 0)),
    ],
)
def test_a_queue_task_skips_or_coalesces_the_fire_times_that_waited_past_the_grace(
    policy: str, runs: list[float], skipped: list[float], counts: tuple[int, int]
) -> None:
    arrivals = arrivals_of(QUEUED.format(overlap="queue", policy=policy))
    assert due_of(arrivals, "slow") == runs
    assert seconds(arrivals.skips.due_us) == skipped
    coalesced, missed = counts
    assert arrivals.skips.counts() == {"overlap": 0, "coalesced": coalesced, "missed": missed}


def test_a_fire_time_waiting_for_a_worker_is_not_missed_as_in_the_engine() -> None:
    # With `allow` the distributor claims each fire time when due (on time) and it waits in
    # the broker for a worker: the engine's misfire policy never sees it. On one instance of
    # one slot, every fire time runs, later and later.
    workload = parse_workload(
        QUEUED.format(overlap="allow", policy="misfire: skip_missed, misfire_grace_s: 10")
    )
    scenario = Scenario(window_for(START, 0.1), "1", dispatch=Dispatch(concurrency=1, overhead_us=0))
    summary = simulate(workload, scenario).summary
    assert summary.tasks == 6
    assert summary.skipped == {"overlap": 0, "coalesced": 0, "missed": 0}
    # The sixth run starts after five of 90 s: 450 s, 150 s after its fire time.
    assert summary.start_delay_s.max == pytest.approx(150)


def test_skipped_fire_times_are_counted_apart_add_no_compute_and_are_not_late() -> None:
    workload = parse_workload(
        QUEUED.format(overlap="queue", policy="misfire: skip_missed, misfire_grace_s: 10")
    )
    scenario = Scenario(window_for(START, 0.1), "1", dispatch=Dispatch(concurrency=1, overhead_us=0))
    for engine in (Engine.FAST, Engine.SIMPY):
        result = simulate(workload, Scenario(scenario.window, "1", dispatch=scenario.dispatch, engine=engine))
        summary = result.summary
        # :00, :02 and :04 run, each on time; :01, :03 and :05 are missed.
        assert summary.tasks == 3
        assert summary.skipped == {"overlap": 0, "coalesced": 0, "missed": 3}
        assert (summary.on_time_pct, summary.verdict) == (100.0, "pass")
        series = result.replications[0].series
        assert series["skipped"][:6] == [0, 1, 0, 1, 0, 1]
        assert series["planned_compute_ms"][:6] == [90_000, 0, 90_000, 0, 90_000, 0]
        assert series["late_tasks"][:6] == [0] * 6


def test_replications_pool_the_skips() -> None:
    workload = parse_workload(
        QUEUED.format(overlap="queue", policy="misfire: skip_missed, misfire_grace_s: 10")
    )
    scenario = Scenario(window_for(START, 0.1), "1", dispatch=Dispatch(concurrency=1), replications=3)
    result = simulate(workload, scenario)
    assert result.summary.skipped == {"overlap": 0, "coalesced": 0, "missed": 9}
    assert [r.summary.skipped["missed"] for r in result.replications] == [3, 3, 3]


def test_overlap_skips_are_counted_too() -> None:
    # `overlap: skip` with runs of 90 s every minute: :00 runs, :01 is skipped (before 1:30),
    # :02 runs, ... over 6 minutes, 3 of each.
    arrivals = arrivals_of(QUEUED.format(overlap="skip", policy="count: 2"))
    assert due_of(arrivals, "slow") == [0, 0, 120, 120, 240, 240]
    assert arrivals.skips.counts() == {"overlap": 6, "coalesced": 0, "missed": 0}


KEYED = """
task_types:
  report: {{duration: {{model: fixed, mean_ms: 150000}}}}
  sync: {{duration: {{model: fixed, mean_ms: 30000}}}}
tasks:
  - {{name: report, task_type: report, cron: "0 * * * *", ordering_key: k}}
  - {{name: sync, task_type: sync, cron: "* * * * *", ordering_key: k, {policy}}}
"""


@pytest.mark.parametrize(
    ("policy", "runs", "counts"),
    [
        # report holds k from 0 to 150 s. At 150 s sync's :00 (150 s late), :01 (90 s) and
        # :02 (30 s) wait, all past a 20 s grace: missed. :03 to :05 run when due.
        ("misfire: skip_missed, misfire_grace_s: 20", [180, 240, 300], (0, 3)),
        # run_latest: once one is missed, the latest waiting (:02) runs at 150 s, the two
        # before it are coalesced.
        ("misfire: run_latest, misfire_grace_s: 20", [150, 180, 240, 300], (2, 0)),
        # run_all: each waits its turn, 30 s apiece from 150 s, until :05 starts on time.
        ("misfire: run_all", [150, 180, 210, 240, 270, 300], (0, 0)),
    ],
)
def test_a_keyed_task_skips_or_coalesces_fire_times_that_waited_for_the_key(
    policy: str, runs: list[float], counts: tuple[int, int]
) -> None:
    arrivals = arrivals_of(KEYED.format(policy=policy))
    assert due_of(arrivals, "report") == [0]
    assert due_of(arrivals, "sync") == runs
    coalesced, missed = counts
    assert arrivals.skips.counts() == {"overlap": 0, "coalesced": coalesced, "missed": missed}


RETRIED = """
task_types:
  export: {{duration: {{model: fixed, mean_ms: 60000}}, failure_probability: 1, max_attempts: 2}}
  report: {{duration: {{model: fixed, mean_ms: 30000}}}}
tasks:
  - {{name: export, task_type: export, cron: "0 * * * *", ordering_key: k{override}}}
  - {{name: report, task_type: report, cron: "1 * * * *", ordering_key: k}}
"""


def test_a_keyed_run_holds_its_key_through_its_pending_retries() -> None:
    # export fails both attempts: 60 s, the engine's 1 s backoff, 60 s: it holds k until
    # 121 s, so report (due at 60 s) starts then, not at export's mean end (60 s).
    arrivals = arrivals_of(RETRIED.format(override=""))
    assert due_of(arrivals, "report") == [121]
    export = arrivals.type_names.index("export")
    [position] = np.flatnonzero(arrivals.type_ids == export).tolist()
    # The simulation runs export with the very attempts that held the key.
    assert arrivals.duration_us[position] == 60 * S
    assert arrivals.retries.extra_us[position] == (60 * S,)
    assert position in arrivals.retries.failed_last


def test_a_tasks_max_attempts_overrides_its_types() -> None:
    # One attempt: export holds k for 60 s, and report starts when due.
    arrivals = arrivals_of(RETRIED.format(override=", max_attempts: 1"))
    assert due_of(arrivals, "report") == [60]
    assert arrivals.retries.attempts == 0 and arrivals.retries.failed == 1


def test_a_tasks_timeout_cuts_each_attempt_and_fails_it() -> None:
    # 90 s runs cut at 30 s fail; the type never fails otherwise and has the default 3
    # attempts: 30 s, 1 s, 30 s, 2 s, 30 s, then dead. The other task of the type is not cut.
    arrivals = arrivals_of(
        """
task_types:
  slow: {duration: {model: fixed, mean_ms: 90000}}
tasks:
  - {name: cut, task_type: slow, cron: "0 * * * *", timeout_s: 30}
  - {name: whole, task_type: slow, cron: "0 * * * *"}
""",
        hours=1,
    )
    assert seconds(arrivals.duration_us) == [30, 90]
    assert arrivals.retries.extra_us == {0: (30 * S, 30 * S)}
    assert arrivals.retries.failed_last == frozenset({0})


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ("cron: '* * * * *', misfire: later", "tasks[0].misfire", "'run_all', 'run_latest' or 'skip_missed'"),
        (
            "cron: '* * * * *', misfire_grace_s: 30",
            "tasks[0].misfire_grace_s",
            "needs misfire run_latest or skip_missed",
        ),
        (
            "cron: '* * * * *', misfire: skip_missed, misfire_grace_s: -1",
            "tasks[0].misfire_grace_s",
            "greater than or equal to 0",
        ),
        (
            "cron: '* * * * *', misfire: skip_missed, misfire_grace_s: 1.5",
            "tasks[0].misfire_grace_s",
            "valid integer",
        ),
        ("run_at: '2026-12-01T09:00:00Z', misfire: run_latest", "tasks[0].misfire", "only for cron tasks"),
        ("rate_per_min: 1, timeout_s: 0", "tasks[0].timeout_s", "greater than or equal to 1"),
        ("rate_per_min: 1, timeout_s: 2147484", "tasks[0].timeout_s", "less than or equal to 2147483"),
        ("rate_per_min: 1, max_attempts: 0", "tasks[0].max_attempts", "greater than or equal to 1"),
        ("rate_per_min: 1, max_attempts: 1001", "tasks[0].max_attempts", "less than or equal to 1000"),
        ("rate_per_min: 1, max_attempts: true", "tasks[0].max_attempts", "expected a number, got a boolean"),
    ],
)
def test_bad_policy_fields_are_named_with_their_line(fields: str, field: str, message: str) -> None:
    types = "task_types:\n  r: {duration: {model: fixed, mean_ms: 10}}\n"
    text = f"{types}tasks:\n  - {{name: a, task_type: r, {fields}}}\n"
    with pytest.raises(WorkloadError) as caught:
        parse_workload(text, "w.yaml")
    assert (caught.value.line, caught.value.field) == (4, field)
    assert message in caught.value.message


app = typer.Typer()
app.command()(simulate_command)


def test_the_command_reports_the_skips_in_its_text_json_and_csv(tmp_path: Path) -> None:
    path = tmp_path / "queued.yaml"
    path.write_text(QUEUED.format(overlap="queue", policy="misfire: skip_missed, misfire_grace_s: 10"))
    common = [str(path), "--start", "2026-12-01T08:00:00Z", "--hours", "0.1", "--instances", "1"]
    table = tmp_path / "minutes.csv"
    text = CliRunner().invoke(app, [*common, "--csv", str(table)])
    assert text.exit_code == 0, text.output
    assert "Skipped     3 fire times (overlap 0, coalesced 0, missed 3): not run, no compute" in text.stdout
    assert [row["skipped"] for row in csv.DictReader(table.open())][:6] == ["0", "1", "0", "1", "0", "1"]
    document = json.loads(CliRunner().invoke(app, [*common, "--json"]).stdout)
    assert (document["tasks"], document["skipped"]) == (3, {"overlap": 0, "coalesced": 0, "missed": 3})
    assert document["replications"][0]["skipped"]["missed"] == 3


def test_a_bad_field_is_exit_2_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(QUEUED.format(overlap="queue", policy="misfire_grace_s: 10"))
    result = CliRunner().invoke(app, [str(path), "--start", "2026-12-01T08:00:00Z"])
    assert result.exit_code == 2
    assert f"{path}:5: tasks[0].misfire_grace_s: misfire_grace_s needs misfire run_latest or skip_missed" in (
        result.stderr
    )
