"""Start lag in the simulator counts from a run's fire time, as the engine's `start_lag_ms`
counts from `scheduled_time`, however long a `queue` policy or an ordering key held the run;
an `after` run's fire time is its upstream's end. Unkeyed `queue` and `skip` tasks hold their
next fire time through the previous run's retries. Each expected answer is worked out by hand
in the test."""

from datetime import UTC, datetime

import numpy as np
import pytest

from simulation.arrivals import Arrivals, expand, window_for
from simulation.outcome import Dispatch
from simulation.run import Engine, Scenario, simulate
from simulation.workload import parse_workload

START = datetime(2026, 12, 1, 8, tzinfo=UTC)
S = 1_000_000
BACKOFF_MS = (1_000, 300_000)
# Ample fixed capacity and no dispatch overhead: a task starts when it is due to.
IDEAL = Dispatch(concurrency=1, overhead_us=0)

QUEUED = """
task_types:
  slow: {duration: {model: fixed, mean_ms: 90000}}
tasks:
  - {name: sync, task_type: slow, cron: "* * * * *", overlap: queue}
"""


def arrivals_of(text: str, hours: float) -> Arrivals:
    return expand(parse_workload(text), window_for(START, hours), np.random.default_rng(0), BACKOFF_MS)


def seconds(values: np.ndarray) -> list[float]:
    return [value / S for value in values.tolist()]


def of_type(arrivals: Arrivals, type_name: str, values: np.ndarray) -> list[float]:
    return seconds(values[arrivals.type_ids == arrivals.type_names.index(type_name)])


@pytest.mark.parametrize("engine", [Engine.FAST, Engine.SIMPY])
def test_a_queue_run_lags_from_its_fire_time_not_from_when_the_previous_run_ended(engine: Engine) -> None:
    # Fired every minute, runs of 90 s, one at a time: the k-th fire time (60k s) starts at
    # 90k s and lags 30k s. Over 10 minutes the starts 0, 90, ..., 540 s stay in the window
    # (630 s leaves it): 7 runs lagging 0, 30, ..., 180 s, of which 6 are late beyond 10 s.
    workload = parse_workload(QUEUED)
    result = simulate(workload, Scenario(window_for(START, 1 / 6), "10", dispatch=IDEAL, engine=engine))
    summary = result.summary
    assert summary.tasks == 7
    assert summary.on_time_pct == pytest.approx(100 / 7)
    assert summary.verdict == "fail"
    assert (summary.start_delay_s.p50, summary.start_delay_s.max) == (90, 180)
    series = result.replications[0].series
    # Tasks and their compute sit in the minute they run (90k s), where the formula sizes the
    # fleet for them; their delays still count from their fire times.
    assert series["tasks"][:10] == [1, 1, 0, 1, 1, 0, 1, 1, 0, 1]
    assert series["planned_compute_ms"][:10] == [90_000 * n for n in series["tasks"][:10]]
    assert series["late_tasks"][:10] == [0, 1, 0, 1, 1, 0, 1, 1, 0, 1]
    assert series["delay_max_s"][:10] == [0, 30, 0, 60, 90, 0, 120, 150, 0, 180]


def test_the_arrivals_keep_each_moved_runs_fire_time() -> None:
    arrivals = arrivals_of(QUEUED, 1 / 6)
    assert seconds(arrivals.scheduled_us) == [0, 90, 180, 270, 360, 450, 540]
    assert seconds(arrivals.lag_from_us) == [0, 60, 120, 180, 240, 300, 360]


def test_a_workload_without_moved_runs_lags_from_its_due_times() -> None:
    arrivals = arrivals_of(QUEUED.replace("overlap: queue", "overlap: allow"), 0.1)
    assert arrivals.fire_us is None
    assert arrivals.lag_from_us is arrivals.scheduled_us


KEYED = """
task_types:
  report: {duration: {model: fixed, mean_ms: 150000}}
  sync: {duration: {model: fixed, mean_ms: 30000}}
tasks:
  - {name: report, task_type: report, cron: "0 * * * *", ordering_key: k}
  - {name: sync, task_type: sync, cron: "* * * * *", ordering_key: k}
"""


@pytest.mark.parametrize("engine", [Engine.FAST, Engine.SIMPY])
def test_a_run_waiting_for_its_key_lags_from_its_fire_time(engine: Engine) -> None:
    # report holds k from 0 to 150 s; sync's :00 to :05 then run 30 s apiece from 150 s
    # (150, 180, ..., 300 s), lagging 150, 120, 90, 60, 30 and 0 s. With report (on time),
    # 2 of 7 start within 10 s.
    arrivals = arrivals_of(KEYED, 0.1)
    assert of_type(arrivals, "sync", arrivals.scheduled_us) == [150, 180, 210, 240, 270, 300]
    assert of_type(arrivals, "sync", arrivals.lag_from_us) == [0, 60, 120, 180, 240, 300]
    scenario = Scenario(window_for(START, 0.1), "10", dispatch=IDEAL, engine=engine)
    summary = simulate(parse_workload(KEYED), scenario).summary
    assert summary.tasks == 7
    assert summary.on_time_pct == pytest.approx(200 / 7)
    assert (summary.start_delay_s.mean, summary.start_delay_s.max) == (pytest.approx(450 / 7), 150)


CHAINED = """
task_types:
  extract: {duration: {model: fixed, mean_ms: 60000}}
  hold: {duration: {model: fixed, mean_ms: 120000}}
  load: {duration: {model: fixed, mean_ms: 30000}}
tasks:
  - {name: extract, task_type: extract, cron: "0 * * * *"}
  - {name: hold, task_type: hold, cron: "0 * * * *", ordering_key: k}
  - {name: load, task_type: load, after: {task: extract, on: success}, ordering_key: k}
  - {name: publish, task_type: load, after: {task: extract, on: success}}
"""


def test_an_after_run_lags_from_its_upstreams_end() -> None:
    # extract runs 0-60 s: load and publish are due at its end, 60 s, as the engine writes
    # their rows with scheduled_time = extract's finished_at. publish starts then; load waits
    # for k, held by hold until 120 s, and lags 60 s (not 120 s from extract's fire time,
    # nor 0 from when k freed).
    arrivals = arrivals_of(CHAINED, 0.1)
    assert of_type(arrivals, "load", arrivals.scheduled_us) == [60, 120]
    assert of_type(arrivals, "load", arrivals.lag_from_us) == [60, 60]
    scenario = Scenario(window_for(START, 0.1), "10", dispatch=IDEAL)
    summary = simulate(parse_workload(CHAINED), scenario).summary
    assert summary.tasks == 4
    assert summary.start_delay_s.max == 60
    assert summary.on_time_pct == 75


FAILING = """
task_types:
  export: {{duration: {{model: fixed, mean_ms: 60000}}, failure_probability: 1, max_attempts: 2}}
  report: {{duration: {{model: fixed, mean_ms: 5000}}}}
tasks:
  - {{name: export, task_type: export, cron: "* * * * *", overlap: {overlap}, count: 2}}
"""


def test_an_unkeyed_queue_task_holds_its_next_fire_time_through_the_retries() -> None:
    # Each run fails a 60 s attempt, waits the engine's 1 s backoff and fails a second 60 s
    # one: it is in flight for 121 s (the type's mean is 60 s). Each copy starts :00 at 0, :01
    # at 121 s, :02 at 242 s (lagging 0, 61 and 122 s); 363 s is past the 6-minute window.
    arrivals = arrivals_of(FAILING.format(overlap="queue"), 0.1)
    assert seconds(arrivals.scheduled_us) == [0, 0, 121, 121, 242, 242]
    assert seconds(arrivals.lag_from_us) == [0, 0, 60, 60, 120, 120]
    # The simulation runs each with the very attempts that held the next one back.
    assert all(arrivals.retries.extra_us[position] == (60 * S,) for position in range(6))
    assert arrivals.retries.failed_last == frozenset(range(6))


def test_an_unkeyed_skip_task_skips_the_fire_times_due_during_the_retries() -> None:
    # In flight 0-121 s: :01 and :02 are skipped, :03 runs until 301 s, :04 and :05 skipped;
    # each of the two copies alike.
    arrivals = arrivals_of(FAILING.format(overlap="skip"), 0.1)
    assert seconds(arrivals.scheduled_us) == [0, 0, 180, 180]
    assert arrivals.fire_us is None  # a skip task's runs start when due
    assert seconds(arrivals.skips.due_us) == [60, 60, 120, 120, 240, 240, 300, 300]
    assert arrivals.skips.counts() == {"overlap": 8, "coalesced": 0, "missed": 0}


def test_a_queue_upstreams_dependents_follow_the_attempts_that_held_it() -> None:
    # export (queue, 121 s in flight) runs at 0, 121 and 242 s; report, after each run on
    # `finished`, is due at its end: 121 and 242 s (363 s is past the window).
    text = FAILING.format(overlap="queue").replace(", count: 2", "") + (
        '  - {name: report, task_type: report, after: {task: export, on: finished}}\n'
    )
    arrivals = arrivals_of(text, 0.1)
    assert of_type(arrivals, "export", arrivals.scheduled_us) == [0, 121, 242]
    assert of_type(arrivals, "report", arrivals.scheduled_us) == [121, 242]
    assert of_type(arrivals, "report", arrivals.lag_from_us) == [121, 242]


RANDOM = """
task_types:
  flaky: {duration: {model: exponential, mean_ms: 40000}, failure_probability: 0.5, max_attempts: 3}
tasks:
  - {name: sync, task_type: flaky, cron: "* * * * *", overlap: queue}
"""


def test_each_queue_run_starts_at_its_fire_time_or_the_previous_runs_last_attempts_end() -> None:
    # Drawn attempts: run k+1 starts at max(its fire time, run k's start + its attempts' run
    # times + the backoffs between them, 1 s then 2 s), from the attempts the simulation runs.
    arrivals = arrivals_of(RANDOM, 2)
    starts = arrivals.scheduled_us.tolist()
    fires = arrivals.lag_from_us.tolist()
    extra = arrivals.retries.extra_us
    moved = 0
    for k in range(len(starts) - 1):
        later = extra.get(k, ())
        end = starts[k] + int(arrivals.duration_us[k]) + sum(later) + [0, 1, 3][len(later)] * S
        assert starts[k + 1] == max(fires[k + 1], end)
        moved += starts[k + 1] > fires[k + 1]
    assert moved > 0 and any(extra)
