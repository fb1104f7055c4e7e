import math

import numpy as np
import pytest

from simulation.durations import DurationError, duration_model, lognormal_sigma


def test_lognormal_sigma_matches_the_docstring_example():
    assert lognormal_sigma(3_000, 9_000) == pytest.approx(0.932, abs=1e-3)


def test_lognormal_samples_have_the_requested_mean_and_p95():
    model = duration_model("lognormal", mean_ms=3_000, p95_ms=9_000)
    sample = model.sample_us(np.random.default_rng(1), 400_000) / 1_000
    assert sample.mean() == pytest.approx(3_000, rel=0.02)
    assert np.percentile(sample, 95) == pytest.approx(9_000, rel=0.02)
    assert model.sd_ms == pytest.approx(sample.std(), rel=0.05)


def test_exponential_and_fixed_and_empirical():
    rng = np.random.default_rng(2)
    exponential = duration_model("exponential", mean_ms=8_000)
    assert exponential.sample_us(rng, 200_000).mean() / 1_000 == pytest.approx(8_000, rel=0.02)
    assert exponential.sd_ms == 8_000
    fixed = duration_model("fixed", mean_ms=450)
    assert fixed.sample_us(rng, 3).tolist() == [450_000] * 3
    assert fixed.sd_ms == 0
    empirical = duration_model("empirical", samples_ms=(100, 300))
    assert empirical.mean_ms == 200
    assert set(empirical.sample_us(rng, 100).tolist()) == {100_000, 300_000}


def test_sampling_is_deterministic_for_a_seed():
    model = duration_model("lognormal", mean_ms=3_000, p95_ms=9_000)
    first = model.sample_us(np.random.default_rng(7), 10)
    assert np.array_equal(first, model.sample_us(np.random.default_rng(7), 10))


@pytest.mark.parametrize(
    ("kind", "arguments", "field"),
    [
        ("gamma", {"mean_ms": 1}, "model"),
        ("lognormal", {"mean_ms": 1_000}, "p95_ms"),
        ("lognormal", {"mean_ms": 1_000, "p95_ms": 900}, "p95_ms"),
        ("lognormal", {"mean_ms": 1_000, "p95_ms": math.exp(1.4) * 1_000}, "p95_ms"),
        ("fixed", {}, "mean_ms"),
        ("exponential", {"mean_ms": 0}, "mean_ms"),
        ("empirical", {}, "samples_ms"),
    ],
)
def test_invalid_parameters_name_the_field(kind, arguments, field):
    with pytest.raises(DurationError) as caught:
        duration_model(kind, **arguments)
    assert caught.value.field == field
