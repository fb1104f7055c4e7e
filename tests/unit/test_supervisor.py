"""The dashboard's supervisor: a child that dies is started again after a bounded backoff,
one that keeps dying makes it give up, and stopping it stops the child."""

from __future__ import annotations

import sys
import threading

import pytest

from engine.processes.supervisor import MAX_RESTARTS, ChildFailed, Supervisor, restart_delay_s

CRASH = [sys.executable, "-c", "raise SystemExit(3)"]
SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.mark.parametrize(
    ("deaths", "delay_s"), [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (40, 30.0)]
)
def test_restart_delay_doubles_up_to_its_bound(deaths: int, delay_s: float) -> None:
    assert restart_delay_s(deaths) == delay_s


def test_a_child_that_keeps_dying_is_restarted_then_given_up() -> None:
    delays: list[int] = []
    supervisor = Supervisor("crasher", CRASH, {}, delay_s=lambda deaths: delays.append(deaths) or 0.0)
    with pytest.raises(ChildFailed, match="crasher exited with status 3 6 times in a row"):
        supervisor.run(threading.Event())
    assert supervisor.starts == MAX_RESTARTS + 1
    assert delays == [1, 2, 3, 4, 5]


def test_a_child_that_ran_long_enough_starts_the_count_afresh() -> None:
    ticks = iter(range(0, 10_000, 100))  # each start and death 100 s apart: every run is stable
    stop = threading.Event()
    seen: list[int] = []

    def delay(deaths: int) -> float:
        seen.append(deaths)
        if len(seen) == 8:
            stop.set()
        return 0.0

    Supervisor("stable", CRASH, {}, clock=lambda: float(next(ticks)), delay_s=delay).run(stop)
    assert seen == [1] * 8


def test_stopping_the_supervisor_stops_the_child() -> None:
    supervisor = Supervisor("sleeper", SLEEP, {})
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop,))
    thread.start()
    while supervisor.child is None:
        stop.wait(0.01)
    stop.set()
    thread.join(20)
    assert not thread.is_alive()
    assert supervisor.child.returncode is not None and supervisor.starts == 1
