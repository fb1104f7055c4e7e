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
            "task_types:\n  r: {duration: {model: fixed, mean_ms: 1}}\ntasks:\n"
            "  - {name: a, task_type: r}\n",
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


def test_poisson_arrivals_have_the_requested_rate():
    workload = parse_workload(
        "task_types:\n  p: {duration: {model: exponential, mean_ms: 10}}\n"
        "tasks:\n  - {name: pings, task_type: p, rate_per_min: 60, count: 2}\n"
    )
    window = window_for(datetime(2026, 12, 1, tzinfo=UTC), 10)
    arrivals = expand(workload, window, np.random.default_rng(3))
    assert len(arrivals) == pytest.approx(120 * 600, rel=0.02)
    assert arrivals.scheduled_us.max() < window.length_us
