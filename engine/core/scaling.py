"""The scaling formula: how many processor instances a minute of scheduled work needs.

required = ceil(total_compute_ms / (capacity_ms x (1 - buffer)))

Computed with exact rational arithmetic so that multiples of the effective capacity never
round up by floating-point error: with the defaults the effective capacity is 9,000 ms and
`required_instances(27_000) == 3`, `required_instances(27_001) == 4`.
"""

from __future__ import annotations

from fractions import Fraction

DEFAULT_CAPACITY_MS = 10_000
DEFAULT_BUFFER = 0.10

# The buffer is kept as an exact decimal fraction (0.10 means 10/100, not the binary float
# 0.1000000000000000055...), so the database views can use the same integer arithmetic.
_BUFFER_DENOMINATOR = 1_000_000


def buffer_ppm(buffer: float) -> int:
    """The buffer in parts per million: `buffer_ppm(0.10) == 100_000`.

    Rejects a buffer outside [0, 1): a buffer of 1 leaves no capacity at all.
    """
    if isinstance(buffer, bool) or not isinstance(buffer, int | float | Fraction):
        raise TypeError(f"buffer must be a number, got {type(buffer).__name__}")
    if not 0 <= buffer < 1:
        raise ValueError(f"buffer must be in [0, 1), got {buffer}")
    return round(Fraction(str(buffer)) * _BUFFER_DENOMINATOR)


def effective_capacity_ms(capacity_ms: int = DEFAULT_CAPACITY_MS, buffer: float = DEFAULT_BUFFER) -> Fraction:
    """Compute one instance may take per minute once the buffer is kept free (9,000 by default)."""
    if isinstance(capacity_ms, bool) or not isinstance(capacity_ms, int):
        raise TypeError(f"capacity_ms must be an integer, got {type(capacity_ms).__name__}")
    if capacity_ms <= 0:
        raise ValueError(f"capacity_ms must be positive, got {capacity_ms}")
    ppm = buffer_ppm(buffer)
    return Fraction(capacity_ms * (_BUFFER_DENOMINATOR - ppm), _BUFFER_DENOMINATOR)


def required_instances(
    total_compute_ms: int | float,
    capacity_ms: int = DEFAULT_CAPACITY_MS,
    buffer: float = DEFAULT_BUFFER,
) -> int:
    """Instances needed for `total_compute_ms` of work in one scheduled minute.

    >>> required_instances(0), required_instances(9_000), required_instances(9_001)
    (0, 1, 2)
    """
    if isinstance(total_compute_ms, bool) or not isinstance(total_compute_ms, int | float):
        raise TypeError(f"total_compute_ms must be a number, got {type(total_compute_ms).__name__}")
    if total_compute_ms != total_compute_ms or total_compute_ms in (float("inf"), float("-inf")):
        raise ValueError(f"total_compute_ms must be finite, got {total_compute_ms}")
    return instances_at(total_compute_ms, effective_capacity_ms(capacity_ms, buffer))


def instances_at(total_compute_ms: int | float, effective_ms: Fraction) -> int:
    """`required_instances` against an effective capacity computed once
    (`effective_capacity_ms`): a series of minutes shares one capacity, and parsing the
    buffer again for each minute cost more than the forecast's read. Whole ms are divided
    in integers.

    >>> instances_at(27_001, effective_capacity_ms())  # ceil(27_001 / 9_000)
    4
    """
    if total_compute_ms < 0:
        raise ValueError(f"total_compute_ms must not be negative, got {total_compute_ms}")
    if isinstance(total_compute_ms, int):
        return -(-(total_compute_ms * effective_ms.denominator) // effective_ms.numerator)
    ratio = Fraction(total_compute_ms) / effective_ms
    return -(-ratio.numerator // ratio.denominator)
