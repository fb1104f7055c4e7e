"""Where the engine's formula misses the start target, and the corrected rule that does not.

The scenarios of `simulation.scenarios`, on one hour instead of the three of the figures.
"""

import pytest

from engine.core.burst_scaling import (
    BurstRule,
    WorkGroup,
    burst_window_ms,
    corrected_required_instances,
    lead_targets,
)
from engine.core.scaling import required_instances
from simulation.run import Engine, simulate
from simulation.scenarios import SCENARIOS, scenario_for
from simulation.workload import parse_workload

REPAIRED = [name for name in SCENARIOS if not name.startswith("prefetch")]


@pytest.mark.parametrize("name", REPAIRED)
def test_formula_fails_and_corrected_passes(name):
    text, options = SCENARIOS[name]
    workload = parse_workload(text, name)
    formula = simulate(workload, scenario_for(options, "formula", hours=1)).summary
    corrected = simulate(workload, scenario_for(options, "corrected", hours=1)).summary
    assert formula.verdict == "fail"
    assert corrected.verdict == "pass"
    assert corrected.start_delay_s.max <= 10


def test_prefetch_hoarding_is_fixed_by_prefetch_one_not_by_more_instances():
    text, options = SCENARIOS["prefetch hoarding (prefetch 10)"]
    workload = parse_workload(text)
    hoarding = scenario_for(options, "corrected", hours=1)
    assert hoarding.engine is Engine.SIMPY
    assert simulate(workload, hoarding).summary.verdict == "fail"
    one = scenario_for({**options, "prefetch": 1}, "formula", hours=1)
    assert simulate(workload, one).summary.verdict == "pass"


def test_corrected_rule_worked_example():
    rule = BurstRule()
    assert burst_window_ms(rule) == 8_995
    groups = [WorkGroup(minute=0, offset_ms=0, count=100, mean_ms=900)]
    assert corrected_required_instances(groups, 1, rule)[0] == 11
    assert required_instances(90_000) == 10


def test_corrected_rule_carries_long_work_into_later_minutes():
    groups = [WorkGroup(minute=0, offset_ms=0, count=3, mean_ms=150_000)]
    levels = corrected_required_instances(
        groups, 1, BurstRule(poll_interval_ms=0, dispatch_overhead_ms=0)
    )
    # 150 s tasks starting by 9 s end by 159 s: minutes 1 and 2 carry a whole window each.
    assert levels == [50, 3, 3]


def test_corrected_rule_needs_a_window():
    with pytest.raises(ValueError):
        burst_window_ms(BurstRule(target_ms=1_000, poll_interval_ms=1_000))


def test_lead_targets_docstring_example():
    assert lead_targets([2, 5, 1], 20_000) == [(0, 2), (40_000, 5), (120_000, 1)]
    assert lead_targets([2, 5, 1], 0) == [(0, 2), (60_000, 5), (120_000, 1)]
