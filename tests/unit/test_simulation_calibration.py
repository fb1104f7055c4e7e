"""The calibration maths recovers the parameters of synthetic data within stated tolerances."""

import math

import numpy as np
import pytest

from simulation.calibration import (
    fit_attempts,
    fit_dispatch,
    fit_durations,
    ks_distance,
    lognormal_from_logs,
    slot_gaps,
)
from simulation.durations import DurationKind, duration_model


@pytest.mark.parametrize(("mean_ms", "p95_ms", "seed"), [(3_000, 9_000, 0), (250, 400, 1), (40, 110, 2)])
def test_a_lognormal_sample_fits_lognormal_within_five_percent(mean_ms, p95_ms, seed):
    rng = np.random.default_rng(seed)
    truth = duration_model("lognormal", mean_ms=mean_ms, p95_ms=p95_ms)
    samples = truth.sample_us(rng, 3_000) / 1_000
    fit = fit_durations(samples)
    assert fit.model.kind is DurationKind.LOGNORMAL
    assert fit.model.mean_ms == pytest.approx(mean_ms, rel=0.05)
    assert fit.model.p95_ms == pytest.approx(p95_ms, rel=0.05)


@pytest.mark.parametrize(("mean_ms", "seed"), [(8_000, 3), (120, 4)])
def test_an_exponential_sample_fits_exponential_within_five_percent(mean_ms, seed):
    samples = np.random.default_rng(seed).exponential(mean_ms, 3_000)
    fit = fit_durations(samples)
    assert fit.model.kind is DurationKind.EXPONENTIAL
    assert fit.model.mean_ms == pytest.approx(mean_ms, rel=0.05)


def test_constant_durations_fit_fixed():
    samples = np.full(500, 250.0) + np.random.default_rng(5).integers(0, 3, 500)
    fit = fit_durations(samples)
    assert fit.model.kind is DurationKind.FIXED
    assert fit.model.mean_ms == pytest.approx(251, abs=0.5)


def test_a_two_humped_sample_is_kept_as_it_is():
    rng = np.random.default_rng(6)
    samples = np.concatenate([rng.normal(100, 5, 1_000), rng.normal(5_000, 50, 1_000)])
    fit = fit_durations(np.rint(samples))
    assert fit.model.kind is DurationKind.EMPIRICAL
    assert fit.ks_distance > 1.63 / math.sqrt(2_000)
    assert len(fit.model.samples_ms) == 2_000


def test_few_samples_stay_empirical_and_none_is_an_error():
    assert fit_durations(np.array([10, 30, 20])).model.kind is DurationKind.EMPIRICAL
    with pytest.raises(ValueError, match="no recorded durations"):
        fit_durations(np.array([]))


def test_lognormal_moments_and_ks_distance():
    mean, p95 = lognormal_from_logs(0.0, 1.0)
    assert mean == pytest.approx(math.exp(0.5))
    assert p95 == pytest.approx(math.exp(1.6448536269514722))
    # Samples at the quartiles of a uniform CDF are a quarter off at worst.
    assert ks_distance(np.array([1, 2, 3]), np.array([0.25, 0.5, 0.75])) == pytest.approx(0.25)


def test_failure_probability_and_attempts_per_run():
    rng = np.random.default_rng(7)
    outcomes = []
    runs = 20_000
    for _ in range(runs):
        for _ in range(3):  # q = 0.1, 3 attempts: the last may fail too (the row is Dead)
            failed = rng.random() < 0.1
            outcomes.append("http_status" if failed else "succeeded")
            if not failed:
                break
    fit = fit_attempts(outcomes + ["timeout"], runs)
    assert fit.failure_probability == pytest.approx(0.1, rel=0.05)
    assert fit.attempts_per_run == pytest.approx(1.11, rel=0.01)
    assert fit.timeouts == 1


def test_dispatch_release_delay_is_the_median_and_overhead_a_low_quantile():
    rng = np.random.default_rng(8)
    due_to_queued = rng.normal(12, 2, 5_000)
    overhead = rng.normal(6, 0.5, 5_000)
    waited = np.where(rng.random(5_000) < 0.5, rng.exponential(3_000, 5_000), 0)
    fit = fit_dispatch(due_to_queued, overhead + waited)
    assert fit.release_delay_ms == pytest.approx(12, abs=0.2)
    # Half the tasks waited for a slot; the 10th percentile still sits on the overhead.
    assert fit.dispatch_overhead_ms == pytest.approx(6, abs=0.6)
    assert fit_dispatch(np.array([-3.0]), np.array([-1.0])).dispatch_overhead_ms == 0
    with pytest.raises(ValueError):
        fit_dispatch(np.array([]), np.array([]))


def test_in_a_burst_the_overhead_is_the_gap_after_a_slot_frees():
    # 200 tasks due at once on 4 slots, 250 ms each, 40 ms of dispatch per task: task k
    # starts at floor(k / 4) x 290 + 40 ms. Nearly every task waited, so the low quantile of
    # queued to started says nothing; the gap after the last finish does.
    k = np.arange(200)
    starts = (k // 4) * 290.0 + 40
    finishes = starts + 250
    fit = fit_dispatch(np.full(200, 2.0), starts, starts, finishes)
    assert fit.dispatch_overhead_ms == pytest.approx(40)
    # Slots that free a little apart (jitter up to 30 ms) still average out to the overhead.
    jitter = np.random.default_rng(9).uniform(0, 30, 200)
    finishes = starts + 250 + jitter
    starts_after = np.sort(finishes)[:-4] + 40  # each freed slot starts the next task 40 ms on
    gaps = slot_gaps(starts_after, np.sort(finishes))
    assert gaps.mean() == pytest.approx(40)
    assert slot_gaps(np.array([5.0, 6.0]), np.array([0.0, 1.0])).tolist() == [4.0, 6.0]
    assert fit_dispatch(np.full(200, 2.0), starts).dispatch_overhead_ms > 1_000
