from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from simulation.arrivals import expand, window_for
from simulation.workload import WorkloadError, load_workload, parse_workload

EXAMPLE = Path(__file__).resolve().parents[2] / "simulation" / "examples" / "fleet.yaml"


def test_example_fleet_loads():
    workload = load_workload(EXAMPLE)
    assert list(workload.types) == ["report", "sync", "ping"]
    assert [task.name for task in workload.tasks] == [
        "hourly-reports",
        "nightly-sync",
        "one-off",
        "pings",
    ]
    assert workload.tasks[0].count == 1000
    assert workload.tasks[2].run_at == datetime(2026, 12, 1, 9, tzinfo=UTC)


BAD = """\
task_types:
  report: {duration: {model: fixed, mean_ms: 450}}
  sync:
    duration: {model: lognormal, mean_ms: 3000}
tasks:
  - {name: a, task_type: report, cron: "0 * * * *"}
"""


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        (BAD, 4, "task_types.sync.duration.p95_ms"),
        (
            "task_types: {}\ntasks:\n  - {name: a, task_type: nope, cron: '* * * * *'}\n",
            3,
            "tasks[0].task_type",
        ),
        (
            "task_types:\n  r: {duration: {model: fixed, mean_ms: 1}}\ntasks:\n"
            "  - name: a\n    task_type: r\n    cron: '61 * * * *'\n",
            6,
            "tasks[0].cron",
        ),
        (
            "task_types:\n  r: {duration: {model: fixed, mean_ms: 1}}\ntasks:\n"
            "  - name: a\n    task_type: r\n    cron: '* * * * *'\n    timezone: Mars/Base\n",
            7,
            "tasks[0].timezone",
        ),
        (
            "task_types:\n  r: {duration: {model: fixed, mean_ms: 1}}\ntasks:\n"
            "  - {name: a, task_type: r, cron: '* * * * *', count: 0}\n",
            4,
            "tasks[0].count",
        ),
        (
            "task_types:\n  r: {duration: {model: fixed, mean_ms: 1}}\ntasks:\n  - {name: a, task_type: r}\n",
            4,
            "tasks[0]",
        ),
        (
            "task_types:\n  r: {duration: {model: fixed, mean_ms: 1}}\ntasks:\n"
            "  - {task_type: r, rate_per_min: 2}\n",
            4,
            "tasks[0]",
        ),
        (
            "task_types:\n  r: {duration: {model: fixed, mean_ms: 1, colour: red}}\ntasks: []\n",
            2,
            "task_types.r.duration.colour",
        ),
        ("task_types: {\ntasks: [\n", 3, "(syntax)"),
    ],
)
def test_bad_files_name_line_and_field(text, line, field):
    with pytest.raises(WorkloadError) as caught:
        parse_workload(text, "w.yaml")
    assert (caught.value.line, caught.value.field) == (line, field)
    assert str(caught.value).startswith(f"w.yaml:{line}: {field}: ")


def test_expansion_repeats_cron_by_count_and_keeps_the_window():
    workload = parse_workload(
        """
task_types:
  r: {duration: {model: fixed, mean_ms: 450}}
tasks:
  - {name: hourly, task_type: r, cron: "0 * * * *", count: 1000}
  - {name: inside, task_type: r, run_at: "2026-12-01T09:00:30Z"}
  - {name: outside, task_type: r, run_at: "2026-12-01T11:00:00Z"}
  - {name: berlin, task_type: r, cron: "30 9 * * *", timezone: Europe/Berlin}
"""
    )
    window = window_for(datetime(2026, 12, 1, 8, 0, 42, tzinfo=UTC), 3)
    arrivals = expand(workload, window, np.random.default_rng(0))
    assert window.start == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert len(arrivals) == 3002
    times = arrivals.scheduled_us
    assert np.all(np.diff(times) >= 0)
    assert (times == 0).sum() == 1000 and (times == 3_600_000_000).sum() == 1000
    assert 3_630_000_000 in times  # run_at 09:00:30
    assert 1_800_000_000 in times  # 09:30 in Berlin is 08:30 UTC in winter
    assert set(arrivals.duration_us.tolist()) == {450_000}


def test_a_skip_task_runs_only_the_fire_times_after_its_previous_runs_expected_end():
    workload = parse_workload(
        """
task_types:
  slow: {duration: {model: fixed, mean_ms: 150000}}
tasks:
  - {name: busy, task_type: slow, cron: "* * * * *", overlap: skip, count: 2}
  - {name: plain, task_type: slow, cron: "* * * * *"}
"""
    )
    window = window_for(datetime(2026, 12, 1, 8, tzinfo=UTC), 0.1)
    arrivals = expand(workload, window, np.random.default_rng(0))
    minutes = (arrivals.scheduled_us // 60_000_000).tolist()
    # Six fire times; runs of 2.5 minutes: each copy of busy runs at 0 and 3 only.
    assert sorted(minutes) == sorted([0, 0, 3, 3] + list(range(6)))


def test_queue_keys_and_dependencies_move_and_add_due_times():
    workload = parse_workload(
        """
task_types:
  slow: {duration: {model: fixed, mean_ms: 150000}}
  minute: {duration: {model: fixed, mean_ms: 60000}}
tasks:
  - {name: queued, task_type: slow, cron: "* * * * *", overlap: queue}
  - {name: a, task_type: minute, cron: "*/4 * * * *", ordering_key: k}
  - {name: b, task_type: minute, cron: "*/4 * * * *", ordering_key: k}
  - {name: load, task_type: minute, after: {task: queued}, count: 2}
  - {name: report, task_type: slow, after: {task: load, on: finished}}
"""
    )
    assert workload.tasks[3].after == 0 and workload.tasks[4].after == 3
    window = window_for(datetime(2026, 12, 1, 8, tzinfo=UTC), 0.2)  # 12 minutes
    arrivals = expand(workload, window, np.random.default_rng(0))
    names = [arrivals.type_names[i] for i in arrivals.type_ids.tolist()]
    seconds = sorted(zip(names, (arrivals.scheduled_us // 1_000_000).tolist(), strict=True))
    queued = [0, 150, 300, 450, 600]  # runs of 150 s fired every minute, one after the other
    keyed = [0, 60, 240, 300, 480, 540]  # a and b at 0, 4 and 8 minutes, a minute each in turn
    load = [start + 150 for start in queued if start + 150 < 720] * 2
    report = [start + 60 for start in load[: len(load) // 2] if start + 60 < 720] * 2
    assert seconds == sorted([("slow", t) for t in queued + report] + [("minute", t) for t in keyed + load])


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ("{name: a, task_type: r, cron: '* * * * *', overlap: sometimes}", "'allow', 'skip' or 'queue'"),
        ("{name: a, task_type: r, run_at: '2026-12-01T09:00:00Z', overlap: skip}", "cron tasks only"),
        ("{name: a, task_type: r, after: {task: nobody}}", "no task is named 'nobody'"),
        ("{name: a, task_type: r, after: {task: a}}", "a dependency cycle: a -> a"),
        ("{name: a, task_type: r, cron: '* * * * *', after: {task: a}}", "exactly one of"),
    ],
)
def test_overlap_is_skip_or_allow_for_cron_tasks(task, message):
    text = f"task_types:\n  r: {{duration: {{model: fixed, mean_ms: 1}}}}\ntasks:\n  - {task}\n"
    with pytest.raises(WorkloadError) as caught:
        parse_workload(text, "w.yaml")
    assert message in caught.value.message


def test_poisson_arrivals_have_the_requested_rate():
    workload = parse_workload(
        "task_types:\n  p: {duration: {model: exponential, mean_ms: 10}}\n"
        "tasks:\n  - {name: pings, task_type: p, rate_per_min: 60, count: 2}\n"
    )
    window = window_for(datetime(2026, 12, 1, tzinfo=UTC), 10)
    arrivals = expand(workload, window, np.random.default_rng(3))
    assert len(arrivals) == pytest.approx(120 * 600, rel=0.02)
    assert arrivals.scheduled_us.max() < window.length_us


TYPES = "task_types:\n  r: {duration: {model: fixed, mean_ms: 450}}\n"


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (TYPES + "tasks: []\n", 3, "tasks", "no tasks: list at least one"),
        (
            TYPES + "  r: {duration: {model: fixed, mean_ms: 900}}\ntasks:\n"
            "  - {name: a, task_type: r, cron: '* * * * *'}\n",
            3,
            "task_types.r",
            "duplicate key",
        ),
        (
            TYPES + "tasks:\n  - {name: a, task_type: r, cron: '* * * * *', cron: '0 * * * *'}\n",
            4,
            "tasks[0].cron",
            "duplicate key",
        ),
        (
            TYPES + "tasks:\n  - {name: a, task_type: r, cron: '* * * * *', cunt: 3}\n",
            4,
            "tasks[0].cunt",
            "unknown key 'cunt' (allowed: name, task_type, count, cron, timezone, run_at, "
            "rate_per_min, overlap, misfire, misfire_grace_s, timeout_s, max_attempts, ordering_key, after)",
        ),
        (TYPES + "taks: []\n", 3, "taks", "unknown key 'taks' (allowed: task_types, tasks)"),
        (
            TYPES + "tasks:\n  - {name: a, task_type: r, cron: '* * * * *', count: true}\n",
            4,
            "tasks[0].count",
            "expected a number, got a boolean",
        ),
        (
            "task_types:\n  r: {duration: {model: fixed, mean_ms: yes}}\ntasks:\n"
            "  - {name: a, task_type: r, cron: '* * * * *'}\n",
            2,
            "task_types.r.duration.mean_ms",
            "expected a number, got a boolean",
        ),
        (
            TYPES + "tasks:\n  - {name: a, task_type: r, run_at: 1780000000}\n",
            4,
            "tasks[0].run_at",
            "expected an ISO date-time",
        ),
        (
            TYPES + "tasks:\n  - {name: a, task_type: r, cron: '* * * * *', timezone: ''}\n",
            4,
            "tasks[0].timezone",
            "non-empty",
        ),
        (
            TYPES + "tasks:\n  - {name: a, task_type: r}\n",
            4,
            "tasks[0]",
            "give exactly one of cron, run_at, rate_per_min",  # without pydantic's "Value error, "
        ),
        (
            TYPES + "tasks:\n  - {name: a, task_type: r, cron: '* * * * *', count: 99999999999}\n",
            4,
            "tasks[0].count",
            "less than or equal to 50000000",
        ),
        (
            TYPES + "tasks:\n  - {name: a, task_type: r, rate_per_min: .inf}\n",
            4,
            "tasks[0].rate_per_min",
            "",
        ),
        (
            "task_types:\n  r: {duration: {model: fixed, mean_ms: 1e30}}\ntasks:\n"
            "  - {name: a, task_type: r, cron: '* * * * *'}\n",
            2,
            "task_types.r.duration.mean_ms",
            "mean_ms must be in [0, 2,147,483,647] ms, got 1e+30",
        ),
        (
            "task_types:\n  r: {duration: {model: lognormal, mean_ms: 450, p95_ms: 450}}\n"
            "tasks:\n  - {name: a, task_type: r, cron: '* * * * *'}\n",
            2,
            "task_types.r.duration.p95_ms",
            "p95_ms must be above mean_ms",
        ),
        (
            "task_types:\n  r: {duration: {model: lognormal, mean_ms: 450, p95_ms: -1}}\n"
            "tasks:\n  - {name: a, task_type: r, cron: '* * * * *'}\n",
            2,
            "task_types.r.duration.p95_ms",
            "p95_ms must be above mean_ms",
        ),
        (
            "task_types:\n  r: {duration: {model: fixed, mean_ms: 450}\ntasks:\n"
            "  - {name: a, task_type: r, cron: '* * * * *'}\n",
            3,
            "(syntax)",
            "(while parsing a flow mapping at line 2)",
        ),
    ],
)
def test_mistakes_are_named_with_their_line(text, line, field, message):
    with pytest.raises(WorkloadError) as caught:
        parse_workload(text, "w.yaml")
    assert (caught.value.line, caught.value.field) == (line, field)
    assert message in caught.value.message


def test_a_file_that_is_not_utf8_is_bad_input(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_bytes(b"\xff\xfe task_types")
    with pytest.raises(WorkloadError, match="not UTF-8 text"):
        load_workload(path)


def test_exponent_numbers_without_a_dot_still_read_as_numbers():
    # PyYAML reads 4.5e2 as a float but 45e1 as a string; both mean 450 ms.
    text = "task_types:\n  r: {duration: {model: fixed, mean_ms: 45e1}}\n"
    workload = parse_workload(text + "tasks:\n  - {name: a, task_type: r, cron: '* * * * *'}\n")
    assert workload.types["r"].mean_ms == 450
