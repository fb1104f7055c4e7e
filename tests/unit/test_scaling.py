from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.scaling import buffer_ppm, effective_capacity_ms, instances_at, required_instances


@pytest.mark.parametrize(
    ("total_ms", "expected"),
    [(0, 0), (1, 1), (8_999, 1), (9_000, 1), (9_001, 2), (18_000, 2), (27_000, 3), (27_001, 4)],
)
def test_default_formula_is_ceil_of_total_over_9000(total_ms: int, expected: int) -> None:
    assert required_instances(total_ms) == expected


@given(st.integers(min_value=0, max_value=10**12))
def test_exact_multiples_of_effective_capacity_never_round_up(multiple: int) -> None:
    assert required_instances(9_000 * multiple) == multiple
    assert required_instances(9_000 * multiple + 1) == multiple + 1


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=1, max_value=10**7),
    st.integers(min_value=0, max_value=999),
)
def test_matches_rational_ceiling_for_any_parameters(total: int, capacity: int, permille: int) -> None:
    buffer = permille / 1000
    effective = Fraction(capacity) * (1 - Fraction(permille, 1000))
    expected = -(-Fraction(total) // effective)
    assert required_instances(total, capacity, buffer) == expected


def test_buffer_changes_the_effective_capacity() -> None:
    assert effective_capacity_ms(10_000, 0.25) == 7_500
    assert required_instances(7_501, 10_000, 0.25) == 2
    assert required_instances(10_000, 10_000, 0) == 1


@pytest.mark.parametrize("bad_total", [-1, -0.5, float("nan"), float("inf")])
def test_rejects_negative_or_non_finite_totals(bad_total: float) -> None:
    with pytest.raises(ValueError, match="total_compute_ms"):
        required_instances(bad_total)


@pytest.mark.parametrize("bad_buffer", [-0.01, 1, 1.5])
def test_rejects_buffer_outside_zero_to_one(bad_buffer: float) -> None:
    with pytest.raises(ValueError, match="buffer"):
        required_instances(100, buffer=bad_buffer)


def test_rejects_non_positive_capacity() -> None:
    with pytest.raises(ValueError, match="capacity_ms"):
        required_instances(100, capacity_ms=0)


def test_buffer_is_kept_in_exact_parts_per_million() -> None:
    assert buffer_ppm(0.10) == 100_000
    assert buffer_ppm(0.333333) == 333_333


@given(
    st.one_of(st.integers(min_value=0, max_value=10**12), st.floats(min_value=0, max_value=1e12)),
    st.integers(min_value=1, max_value=10**7),
    st.integers(min_value=0, max_value=999_999),
)
def test_a_capacity_computed_once_gives_the_formulas_instances(total: float, capacity: int, ppm: int) -> None:
    buffer = ppm / 1_000_000
    assert instances_at(total, effective_capacity_ms(capacity, buffer)) == required_instances(
        total, capacity, buffer
    )
