"""The live/ready decision of the processes' health endpoints (engine.core.readiness)."""

from __future__ import annotations

from engine.core.readiness import LoopStamps, liveness, readiness


def test_the_worked_example_of_the_module() -> None:
    started = LoopStamps(started_s=0)
    assert liveness(started, 30, 60).ok
    assert readiness(started, 30, 60, None, None).problems == ("loop: no successful loop yet",)
    good = LoopStamps(0, attempted_s=40, succeeded_s=40)
    assert readiness(good, 100, 60, None, None).ok
    assert not readiness(good, 100.5, 60, None, None).ok
    failing = LoopStamps(0, attempted_s=150, succeeded_s=40)
    assert liveness(failing, 210, 60).ok
    assert liveness(failing, 211, 60).problems == ("loop: no step for 61 s (limit 60 s)",)
    assert not readiness(failing, 110, 60, None, None).ok


def test_a_process_that_never_steps_stops_being_live_after_the_stall_limit() -> None:
    assert liveness(LoopStamps(started_s=10), 70, 60).ok
    assert not liveness(LoopStamps(started_s=10), 70.1, 60).ok


def test_each_dependency_down_is_named_and_makes_it_unready_but_still_live() -> None:
    stamps = LoopStamps(0, attempted_s=5, succeeded_s=5)
    verdict = readiness(stamps, 6, 60, "OperationalError", "AMQPConnectionError")
    assert verdict.problems == ("database: OperationalError", "broker: AMQPConnectionError")
    assert liveness(stamps, 6, 60).ok
