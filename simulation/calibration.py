"""Calibration: the simulator's parameters estimated from what the engine recorded. Pure.

Inputs are plain arrays (the database reading lives in `simulation.calibrate_db`):

- **Duration fit** per task type, on the elapsed times of its successful attempts
  (`fit_durations`): `fixed` when the spread is negligible (coefficient of variation under
  `FIXED_CV`), else the better of `exponential` (maximum likelihood: the mean) and `lognormal`
  (maximum likelihood: mu and sigma are the mean and standard deviation of the logs, turned
  into the workload's mean and p95) by the Kolmogorov-Smirnov distance; `empirical` (the
  samples themselves) when even the better one is rejected at the 1 % level
  (distance above 1.63 / sqrt(n)). Example: 2,000 draws of a lognormal with mean 3,000 ms and
  p95 9,000 ms fit `lognormal` with a mean and p95 within 5 % of those.
- **Attempts** per type (`fit_attempts`): the share of attempts that failed other than by
  timeout (timeouts follow from the duration fit and the type's timeout), and the mean
  attempts per run.
- **Dispatch** (`fit_dispatch`): the effective release delay is the median time from due to
  queued (the distributor's reaction, not its poll interval: it sleeps until the next row is
  due); the dispatch overhead is the median gap between a waiting task's start and the attempt
  that freed its slot (`slot_gaps`: a waiting task starts when a slot frees), or, when few
  tasks waited, the 10th percentile of queued to started over first attempts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulation.durations import Z95, DurationModel, duration_model

FIXED_CV = 0.02
KS_CRITICAL_1PCT = 1.63  # Kolmogorov-Smirnov: reject at 1 % above 1.63 / sqrt(n)
MIN_SAMPLES_TO_FIT = 20
OVERHEAD_QUANTILE = 10
WAITED_MS = 100.0  # a first attempt this long from queued to started waited for a slot
MIN_WAITED = 10


@dataclass(frozen=True, slots=True)
class DurationFit:
    model: DurationModel
    samples: int
    ks_distance: float

    def describe(self) -> dict[str, object]:
        model = self.model
        return {
            "model": model.kind.value,
            "mean_ms": round(model.mean_ms, 1),
            "p95_ms": None if model.p95_ms is None else round(model.p95_ms, 1),
            "sd_ms": round(model.sd_ms, 1),
            "samples": self.samples,
            "ks_distance": round(self.ks_distance, 4),
        }


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def ks_distance(sorted_samples: np.ndarray, cdf: np.ndarray) -> float:
    """The Kolmogorov-Smirnov statistic of sorted samples against the model's CDF at them."""
    n = len(sorted_samples)
    upper = np.arange(1, n + 1) / n - cdf
    lower = cdf - np.arange(0, n) / n
    return float(max(upper.max(), lower.max()))


def lognormal_from_logs(mu_ms: float, sigma: float) -> tuple[float, float]:
    """(mean_ms, p95_ms) of exp(N(mu, sigma^2)): exp(mu + sigma^2 / 2), exp(mu + z95 sigma)."""
    return math.exp(mu_ms + sigma * sigma / 2), math.exp(mu_ms + Z95 * sigma)


def fit_durations(elapsed_ms: np.ndarray) -> DurationFit:
    """The model that describes `elapsed_ms` best (see the module docstring). Needs a sample;
    under `MIN_SAMPLES_TO_FIT` samples (or with zeros, which no lognormal has) it is the
    empirical model of them."""
    samples = np.sort(np.asarray(elapsed_ms, dtype=np.float64))
    n = len(samples)
    if n == 0:
        raise ValueError("no recorded durations to fit")
    mean = float(samples.mean())
    empirical = DurationFit(
        duration_model("empirical", samples_ms=tuple(int(v) for v in samples)), n, 0.0
    )
    if mean > 0 and float(samples.std()) / mean < FIXED_CV:
        return DurationFit(duration_model("fixed", mean_ms=mean), n, 0.0)
    if n < MIN_SAMPLES_TO_FIT or samples[0] <= 0:
        return empirical
    candidates = [
        DurationFit(
            duration_model("exponential", mean_ms=mean),
            n,
            ks_distance(samples, 1 - np.exp(-samples / mean)),
        )
    ]
    logs = np.log(samples)
    mu, sigma = float(logs.mean()), float(logs.std())
    if 0 < sigma < Z95:  # beyond it p95 / mean leaves the range a workload can state
        fitted_mean, p95 = lognormal_from_logs(mu, sigma)
        cdf = _normal_cdf((logs - mu) / sigma)
        candidates.append(
            DurationFit(
                duration_model("lognormal", mean_ms=fitted_mean, p95_ms=p95),
                n,
                ks_distance(samples, cdf),
            )
        )
    best = min(candidates, key=lambda fit: fit.ks_distance)
    if best.ks_distance > KS_CRITICAL_1PCT / math.sqrt(n):
        return DurationFit(empirical.model, n, best.ks_distance)
    return best


@dataclass(frozen=True, slots=True)
class AttemptFit:
    attempts: int
    runs: int
    failure_probability: float
    timeouts: int

    @property
    def attempts_per_run(self) -> float:
        return self.attempts / self.runs if self.runs else 0.0


def fit_attempts(outcomes: list[str], runs: int) -> AttemptFit:
    """From every attempt's outcome (`succeeded`, `timeout`, `http_status`, ...) of `runs`
    schedule rows: the probability that an attempt fails other than by timeout.
    `fit_attempts(["succeeded", "failed", "succeeded", "timeout"], 3)` gives 1 / 4."""
    attempts = len(outcomes)
    failed = sum(1 for outcome in outcomes if outcome not in ("succeeded", "timeout"))
    timeouts = sum(1 for outcome in outcomes if outcome == "timeout")
    probability = failed / attempts if attempts else 0.0
    return AttemptFit(attempts, runs, probability, timeouts)


@dataclass(frozen=True, slots=True)
class DispatchFit:
    release_delay_ms: float
    dispatch_overhead_ms: float
    rows: int


def slot_gaps(starts_ms: np.ndarray, finishes_ms: np.ndarray) -> np.ndarray:
    """Each start (ascending) matched with the latest finish before it not matched yet (a slot
    frees once), and the gap between them. Under any one-to-one matching the gaps sum to the
    same total, so their mean is the mean time from a slot freeing to its next start, even when
    slots free in a tie and the pairs cross (and the crossings spread the gaps about evenly
    either side, so the median stays close). `slot_gaps([5, 6], [0, 1])` is [4, 6]."""
    gaps = []
    free: list[float] = []
    index = 0
    for start in starts_ms.tolist():
        while index < len(finishes_ms) and finishes_ms[index] <= start:
            free.append(float(finishes_ms[index]))
            index += 1
        if free:
            gaps.append(start - free.pop())
    return np.array(gaps)


def fit_dispatch(
    queued_after_due_ms: np.ndarray,
    started_after_queued_ms: np.ndarray,
    first_starts_ms: np.ndarray | None = None,
    finishes_ms: np.ndarray | None = None,
) -> DispatchFit:
    """Release delay and dispatch overhead, in ms, from first attempts (see the module
    docstring). With `first_starts_ms` (the same attempts' starts) and `finishes_ms` (every
    attempt's start + elapsed), the overhead is the median `slot_gaps` of the tasks that waited
    at least `WAITED_MS` for a slot: a waiting task starts when a slot frees, so that gap is
    what dispatch costs even when every task waited (a burst); the median, because a task
    that waited for a new processor to boot has no freed slot before it. With fewer than `MIN_WAITED`
    such tasks it is the 10th percentile of queued to started. Negative values (clock skew
    between hosts) count as 0.
    `fit_dispatch([3, 5, 400], [4, 6, 8, 90, 900])` is (5 ms, 4.8 ms)."""
    due = np.clip(np.asarray(queued_after_due_ms, dtype=np.float64), 0, None)
    queued = np.clip(np.asarray(started_after_queued_ms, dtype=np.float64), 0, None)
    if len(due) == 0 or len(queued) == 0:
        raise ValueError("no started first attempts to calibrate dispatch from")
    overhead = float(np.percentile(queued, OVERHEAD_QUANTILE))
    if first_starts_ms is not None and finishes_ms is not None:
        waited = np.sort(np.asarray(first_starts_ms, dtype=np.float64)[queued >= WAITED_MS])
        gaps = slot_gaps(waited, np.sort(np.asarray(finishes_ms, dtype=np.float64)))
        if len(gaps) >= MIN_WAITED:
            overhead = float(np.median(gaps))
    return DispatchFit(float(np.median(due)), overhead, len(queued))
