from datetime import UTC, datetime, timedelta

import pytest

from engine.core.forecast import ForecastMinute
from engine.core.scale_points import Direction, ScalePoint, plan_scaling, rescale, what_if

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def series_of(needs: list[int], compute_per_instance_ms: int = 9_000) -> list[ForecastMinute]:
    return [
        ForecastMinute(T0 + timedelta(minutes=i), need, need * compute_per_instance_ms, need)
        for i, need in enumerate(needs)
    ]


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_first_shortfall_is_the_first_minute_needing_more_than_runs_now() -> None:
    plan = plan_scaling(series_of([1, 2, 1, 3, 3, 0]), current_instances=2)
    assert plan.first_shortfall is not None
    assert (plan.first_shortfall.minute, plan.first_shortfall.required_instances) == (at(3), 3)
    assert plan.minutes_short == 2


def test_no_shortfall_when_the_fleet_covers_every_minute() -> None:
    plan = plan_scaling(series_of([1, 2, 2]), current_instances=2)
    assert plan.first_shortfall is None
    assert plan.minutes_short == 0


def test_peak_is_the_first_minute_of_the_highest_need() -> None:
    plan = plan_scaling(series_of([1, 4, 2, 4]), current_instances=0)
    assert plan.peak is not None
    assert (plan.peak.minute, plan.peak.required_instances) == (at(1), 4)


def test_points_follow_the_need_exactly_by_default() -> None:
    plan = plan_scaling(series_of([0, 2, 0, 3, 0]), current_instances=0)
    assert plan.points == (
        ScalePoint(at(1), 0, 2),
        ScalePoint(at(2), 2, 0),
        ScalePoint(at(3), 0, 3),
        ScalePoint(at(4), 3, 0),
    )
    assert [p.direction for p in plan.points] == [Direction.UP, Direction.DOWN, Direction.UP, Direction.DOWN]
    assert plan.fleet == (0, 2, 0, 3, 0)


def test_a_larger_fleet_than_needed_scales_down_in_the_first_minute() -> None:
    plan = plan_scaling(series_of([1, 1]), current_instances=3)
    assert plan.points == (ScalePoint(at(0), 3, 1),)


def test_cooldown_keeps_instances_between_busy_minutes() -> None:
    plan = plan_scaling(series_of([0, 2, 0, 3, 0, 0, 0]), current_instances=0, cooldown_minutes=2)
    assert plan.points == (ScalePoint(at(1), 0, 2), ScalePoint(at(3), 2, 3), ScalePoint(at(6), 3, 0))


def test_lead_starts_instances_early_and_keeps_the_shortfall_where_it_is() -> None:
    plan = plan_scaling(series_of([1, 1, 1, 4, 0]), current_instances=1, lead_minutes=2)
    assert plan.points == (ScalePoint(at(1), 1, 4), ScalePoint(at(4), 4, 0))
    assert plan.first_shortfall is not None and plan.first_shortfall.minute == at(3)


def test_without_lead_the_fleet_first_grows_past_today_at_the_first_shortfall() -> None:
    needs = [0, 1, 3, 1, 5, 2, 0, 6]
    for cooldown in range(4):
        plan = plan_scaling(series_of(needs), current_instances=2, cooldown_minutes=cooldown)
        first_above = next(i for i, size in enumerate(plan.fleet) if size > plan.current_instances)
        assert plan.first_shortfall is not None
        assert at(first_above) == plan.first_shortfall.minute


def test_empty_series() -> None:
    plan = plan_scaling([], current_instances=2)
    assert (plan.first_shortfall, plan.peak, plan.points, plan.fleet) == (None, None, (), ())


def test_rejects_negative_inputs() -> None:
    with pytest.raises(ValueError):
        plan_scaling(series_of([1]), current_instances=-1)
    with pytest.raises(ValueError):
        plan_scaling(series_of([1]), current_instances=0, cooldown_minutes=-1)


def test_rescale_recomputes_instances_from_compute() -> None:
    minute = ForecastMinute(T0, 3, 27_001, 4)
    assert rescale([minute], 10_000, 0.0)[0].required_instances == 3
    assert rescale([minute], 10_000, 0.10)[0] == minute


def test_what_if_lists_every_combination_with_peak_and_instance_minutes() -> None:
    series = [ForecastMinute(T0, 1, 18_000, 2), ForecastMinute(at(1), 1, 9_000, 1)]
    rows = what_if(series, [10_000, 20_000], [0.10, 0.5])
    assert [(r.capacity_ms, r.buffer, r.peak_instances, r.instance_minutes) for r in rows] == [
        (10_000, 0.10, 2, 3),
        (10_000, 0.5, 4, 6),
        (20_000, 0.10, 1, 2),
        (20_000, 0.5, 2, 3),
    ]
