"""`after` tasks and ordering keys in the simulator: dependents follow their upstream's final
outcome and end (its attempts and the backoffs between them), and keyed dependents queue."""

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np

from simulation.arrivals import Arrivals, expand, window_for
from simulation.attempts import backoff_us
from simulation.outcome import Dispatch
from simulation.run import Engine, Scenario, simulate
from simulation.workload import parse_workload

START = datetime(2026, 12, 1, 8, tzinfo=UTC)
S = 1_000_000
BACKOFF_MS = (1_000, 300_000)


def due_by_type(arrivals: Arrivals) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {name: [] for name in arrivals.type_names}
    for type_id, due in zip(arrivals.type_ids.tolist(), arrivals.scheduled_us.tolist(), strict=True):
        found[arrivals.type_names[type_id]].append(due)
    return found


def final_ends(arrivals: Arrivals, type_name: str, succeeded: bool | None = None) -> list[int]:
    """Each run's last attempt's end, from its drawn attempts: due + attempts + backoffs."""
    type_id = arrivals.type_names.index(type_name)
    ends = []
    for position in np.flatnonzero(arrivals.type_ids == type_id).tolist():
        later = arrivals.retries.extra_us.get(position, ())
        backoffs = sum(backoff_us(k, *BACKOFF_MS) for k in range(1, len(later) + 1))
        end = int(arrivals.scheduled_us[position] + arrivals.duration_us[position]) + sum(later) + backoffs
        failed = position in arrivals.retries.failed_last
        if succeeded is None or succeeded is not failed:
            ends.append(end)
    return sorted(ends)


ALWAYS_FAILS = """
task_types:
  extract: {duration: {model: fixed, mean_ms: 60000}, failure_probability: 1, max_attempts: 2}
  load: {duration: {model: fixed, mean_ms: 30000}}
  report: {duration: {model: fixed, mean_ms: 10000}}
tasks:
  - {name: extract, task_type: extract, cron: "*/10 * * * *"}
  - {name: load, task_type: load, after: {task: extract, on: success}, count: 5}
  - {name: report, task_type: report, after: {task: extract, on: finished}, count: 2}
"""


def test_an_upstream_that_always_fails_sets_off_only_finished_dependents_after_its_last_attempt():
    workload = parse_workload(ALWAYS_FAILS)
    arrivals = expand(workload, window_for(START, 1), np.random.default_rng(0), BACKOFF_MS)
    due = due_by_type(arrivals)
    extracts = [minute * 60 * S for minute in range(0, 60, 10)]
    assert due["extract"] == extracts
    assert arrivals.retries.failed == 6
    assert due["load"] == []  # on: success, and no run succeeds
    # 60 s, the 1 s backoff, 60 s again: each report is due 121 s after its extract.
    assert due["report"] == sorted([start + 121 * S for start in extracts] * 2)


def test_the_backoff_that_delays_an_upstreams_end_is_the_engines():
    workload = parse_workload(ALWAYS_FAILS)
    arrivals = expand(workload, window_for(START, 1), np.random.default_rng(0), (5_000, 300_000))
    assert due_by_type(arrivals)["report"][:2] == [125 * S, 125 * S]


def test_dependents_follow_the_draws_of_each_upstream_run():
    workload = parse_workload(
        """
task_types:
  extract: {duration: {model: lognormal, mean_ms: 20000, p95_ms: 40000}, failure_probability: 0.5,
            max_attempts: 2, timeout_ms: 35000}
  load: {duration: {model: fixed, mean_ms: 30000}}
  report: {duration: {model: fixed, mean_ms: 10000}}
tasks:
  - {name: extract, task_type: extract, cron: "* * * * *", count: 3}
  - {name: load, task_type: load, after: {task: extract, on: success}}
  - {name: report, task_type: report, after: {task: extract, on: finished}}
"""
    )
    arrivals = expand(workload, window_for(START, 2), np.random.default_rng(7), BACKOFF_MS)
    due = due_by_type(arrivals)
    runs = len(due["extract"])
    assert runs == 360
    # Half fail once, a quarter for good: the loads are the runs whose last attempt succeeded.
    assert 0 < arrivals.retries.failed < runs // 2
    assert len(due["load"]) == runs - arrivals.retries.failed
    window_us = 120 * 60 * S
    assert due["load"] == [end for end in final_ends(arrivals, "extract", succeeded=True) if end < window_us]
    assert due["report"] == [end for end in final_ends(arrivals, "extract") if end < window_us]


def test_a_chain_follows_each_links_outcome():
    workload = parse_workload(
        """
task_types:
  flaky: {duration: {model: fixed, mean_ms: 60000}, failure_probability: 1, max_attempts: 2}
  dead: {duration: {model: fixed, mean_ms: 20000}, failure_probability: 1, max_attempts: 1}
  step: {duration: {model: fixed, mean_ms: 30000}}
tasks:
  - {name: a, task_type: flaky, run_at: "2026-12-01T08:00:00Z"}
  - {name: b, task_type: step, after: {task: a, on: finished}}
  - {name: c, task_type: dead, after: {task: b, on: success}}
  - {name: d, task_type: step, after: {task: c, on: success}}
  - {name: e, task_type: step, after: {task: c, on: finished}}
"""
    )
    arrivals = expand(workload, window_for(START, 1), np.random.default_rng(0), BACKOFF_MS)
    # a: 0-60 s, 1 s backoff, 61-121 s, dead; b at 121 s (30 s); c at 151 s fails for good (20 s),
    # so d never runs and e is due at 171 s.
    assert due_by_type(arrivals) == {"flaky": [0], "dead": [151 * S], "step": [121 * S, 171 * S]}


def test_an_after_task_under_an_ordering_key_never_overlaps_the_keys_other_task():
    workload = parse_workload(
        """
task_types:
  extract: {duration: {model: fixed, mean_ms: 120000}}
  load: {duration: {model: fixed, mean_ms: 90000}}
  sync: {duration: {model: fixed, mean_ms: 40000}}
tasks:
  - {name: extract, task_type: extract, cron: "*/5 * * * *"}
  - {name: load, task_type: load, after: {task: extract}, ordering_key: warehouse}
  - {name: sync, task_type: sync, cron: "* * * * *", ordering_key: warehouse}
"""
    )
    arrivals = expand(workload, window_for(START, 1), np.random.default_rng(0), BACKOFF_MS)
    names = [arrivals.type_names[type_id] for type_id in arrivals.type_ids.tolist()]
    keyed = sorted(
        (due, due + duration)
        for name, due, duration in zip(
            names, arrivals.scheduled_us.tolist(), arrivals.duration_us.tolist(), strict=True
        )
        if name in ("load", "sync")
    )
    assert Counter(name for name in names) == {"extract": 12, "load": 12, "sync": 60}
    assert all(end <= following for (_, end), (following, _) in zip(keyed, keyed[1:], strict=False))
    # A load and a sync are due at 2:00: the load (listed first) runs, the sync waits until 3:30
    # and the next sync, due at 3:00, until 4:10.
    first = [(0, 40), (60, 100), (120, 210), (210, 250), (250, 290)]
    assert keyed[:5] == [(start * S, end * S) for start, end in first]


def test_both_engines_agree_on_chains_with_retries():
    workload = parse_workload(
        """
task_types:
  extract: {duration: {model: exponential, mean_ms: 20000}, failure_probability: 0.4}
  load: {duration: {model: fixed, mean_ms: 5000}}
tasks:
  - {name: extract, task_type: extract, cron: "* * * * *", count: 5}
  - {name: load, task_type: load, after: {task: extract, on: success}, ordering_key: k, count: 2}
  - {name: report, task_type: load, after: {task: load, on: finished}}
"""
    )
    scenario = Scenario(window_for(START, 0.5), "2", dispatch=Dispatch(concurrency=2), seed=5)
    fast = simulate(workload, replace(scenario, engine=Engine.FAST))
    reference = simulate(workload, replace(scenario, engine=Engine.SIMPY))
    assert fast.summary == reference.summary


def test_a_keyed_skip_task_skips_the_fire_times_due_while_its_run_holds_or_waits_for_the_key():
    workload = parse_workload(
        """
task_types:
  sync: {duration: {model: fixed, mean_ms: 60000}}
  report: {duration: {model: fixed, mean_ms: 150000}}
tasks:
  - {name: sync, task_type: sync, cron: "* * * * *", overlap: skip, ordering_key: k, count: 2}
  - {name: report, task_type: report, run_at: "2026-12-01T08:00:30Z", ordering_key: k}
"""
    )
    arrivals = expand(workload, window_for(START, 0.1), np.random.default_rng(0), BACKOFF_MS)
    names = [arrivals.type_names[type_id] for type_id in arrivals.type_ids.tolist()]
    starts = [(name, due // S) for name, due in zip(names, arrivals.scheduled_us.tolist(), strict=True)]
    # The two copies' syncs of 0:00 run at 0 and 60 s, the report from 120 s to 270 s. At 1:00
    # the first copy's run has ended: its fire time waits for the key until 270 s; the second's
    # is running: skipped. At 2:00 the second's has ended: its fire time waits until 330 s.
    # Every later fire time of the window finds each copy's run waiting or running: skipped.
    assert starts == [("sync", 0), ("sync", 60), ("report", 120), ("sync", 270), ("sync", 330)]
