"""Duration models of task types, and their seeded, vectorised sampling.

Every model is a frozen value with a `mean_ms` (what the scaling formula plans with), an
`sd_ms` (what the corrected rule adds a margin for) and `sample_us(rng, n)`, which draws `n`
durations in integer microseconds, the simulator's time unit (integers make SimPy and the
fast path agree to the microsecond, with no floating-point ties to break differently).

Lognormal from mean and p95: with X = exp(mu + sigma Z), mean = exp(mu + sigma^2 / 2) and
p95 = exp(mu + z95 sigma), so ln(p95 / mean) = z95 sigma - sigma^2 / 2, whose smaller root is
sigma = z95 - sqrt(z95^2 - 2 ln(p95 / mean)). Example: mean 3,000 ms, p95 9,000 ms gives
sigma = 0.932 and mu = 7.572; the ratio p95 / mean must lie in (1, exp(z95^2 / 2) = 3.87).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from simulation.limits import MAX_DURATION_MS

Z95 = 1.6448536269514722
US_PER_MS = 1_000


class DurationKind(StrEnum):
    FIXED = "fixed"
    EXPONENTIAL = "exponential"
    LOGNORMAL = "lognormal"
    EMPIRICAL = "empirical"


class DurationError(ValueError):
    """Parameters that define no distribution; `field` names the offending parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class DurationModel:
    """One task type's durations. Build it with `duration_model`, which validates."""

    kind: DurationKind
    mean_ms: float
    p95_ms: float | None = None
    samples_ms: tuple[int, ...] = ()

    @property
    def mean_us(self) -> int:
        """The mean in whole microseconds: what the simulator expects a run to last."""
        return round(self.mean_ms * US_PER_MS)

    @property
    def sd_ms(self) -> float:
        """Standard deviation: 0 fixed, the mean for exponential, from sigma for lognormal."""
        if self.kind is DurationKind.FIXED:
            return 0.0
        if self.kind is DurationKind.EXPONENTIAL:
            return self.mean_ms
        if self.kind is DurationKind.LOGNORMAL:
            sigma = lognormal_sigma(self.mean_ms, self._p95())
            return self.mean_ms * math.sqrt(math.expm1(sigma * sigma))
        return float(np.std(np.asarray(self.samples_ms, dtype=np.float64)))

    def _p95(self) -> float:
        assert self.p95_ms is not None
        return self.p95_ms

    def sample_us(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` durations in whole microseconds (int64, never negative)."""
        if self.kind is DurationKind.FIXED:
            return np.full(n, self.mean_us, dtype=np.int64)
        if self.kind is DurationKind.EXPONENTIAL:
            values = rng.exponential(self.mean_ms * US_PER_MS, n)
        elif self.kind is DurationKind.LOGNORMAL:
            sigma = lognormal_sigma(self.mean_ms, self._p95())
            mu = math.log(self.mean_ms * US_PER_MS) - sigma * sigma / 2
            values = rng.lognormal(mu, sigma, n)
        else:
            pool = np.asarray(self.samples_ms, dtype=np.int64) * US_PER_MS
            return pool[rng.integers(0, len(pool), n)]
        return np.rint(values).astype(np.int64)


def lognormal_sigma(mean_ms: float, p95_ms: float) -> float:
    """The sigma of the lognormal with this mean and 95th percentile (see module docstring)."""
    gap = math.log(p95_ms / mean_ms)
    discriminant = Z95 * Z95 - 2 * gap
    if gap <= 0 or discriminant < 0:
        raise DurationError(
            "p95_ms",
            f"p95_ms / mean_ms must be in (1, {math.exp(Z95 * Z95 / 2):.2f}) for a lognormal, "
            f"got {p95_ms / mean_ms:.3g}",
        )
    return Z95 - math.sqrt(discriminant)


def duration_model(
    kind: str,
    mean_ms: float | None = None,
    p95_ms: float | None = None,
    samples_ms: tuple[int, ...] = (),
) -> DurationModel:
    """Validate and build a model; raise DurationError naming the bad parameter.

    `empirical` takes its mean from the samples: `duration_model("empirical",
    samples_ms=(100, 300)).mean_ms == 200`.
    """
    try:
        model_kind = DurationKind(kind)
    except ValueError as error:
        choices = ", ".join(k.value for k in DurationKind)
        raise DurationError("model", f"unknown model {kind!r}; use one of {choices}") from error
    if model_kind is DurationKind.EMPIRICAL:
        if not samples_ms:
            raise DurationError("samples_ms", "empirical needs at least one recorded duration")
        if min(samples_ms) < 0 or max(samples_ms) > MAX_DURATION_MS:
            raise DurationError(
                "samples_ms", f"recorded durations must be in [0, {MAX_DURATION_MS:,}] ms"
            )
        return DurationModel(model_kind, sum(samples_ms) / len(samples_ms), None, samples_ms)
    if mean_ms is None:
        raise DurationError("mean_ms", f"{kind} needs mean_ms")
    if not 0 <= mean_ms <= MAX_DURATION_MS:
        raise DurationError(
            "mean_ms", f"mean_ms must be in [0, {MAX_DURATION_MS:,}] ms, got {mean_ms}"
        )
    if model_kind is DurationKind.LOGNORMAL:
        if p95_ms is None:
            raise DurationError("p95_ms", "lognormal needs p95_ms")
        if mean_ms <= 0:
            raise DurationError("mean_ms", "lognormal needs mean_ms > 0")
        if not mean_ms < p95_ms <= MAX_DURATION_MS:
            raise DurationError(
                "p95_ms",
                f"p95_ms must be above mean_ms and at most {MAX_DURATION_MS:,} ms, got {p95_ms}",
            )
        lognormal_sigma(mean_ms, p95_ms)
        return DurationModel(model_kind, float(mean_ms), float(p95_ms))
    if model_kind is DurationKind.EXPONENTIAL and mean_ms <= 0:
        raise DurationError("mean_ms", "exponential needs mean_ms > 0")
    return DurationModel(model_kind, float(mean_ms))
