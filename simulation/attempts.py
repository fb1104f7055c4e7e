"""Failed attempts, retries and timeouts of simulated tasks: the model and its seeded draws.

A task type may fail: each attempt fails with `failure_probability` (independently), and an
attempt whose drawn duration exceeds `timeout_ms` is cut at the timeout and fails too (the
engine's http handler raises `timeout`, a retryable failure). A failed attempt is sent again
after the engine's backoff (`engine.core.retry.compute_backoff_ms`) while attempts remain,
through the broker's delay queue (not the distributor), so the next attempt joins the back of
the queue `backoff` after the failed one ended. `max_attempts` counts every attempt.

Example: `failure_probability=1, max_attempts=3` and a 1 s backoff base gives three attempts,
the second released 1 s after the first ends and the third 2 s after the second ends.

Draws happen only for types that can fail, so a workload without failures draws exactly what
it drew before retries were modelled (same seed, same output).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from engine.core.retry import compute_backoff_ms
from simulation.defaults import DEFAULT_MAX_ATTEMPTS
from simulation.durations import DurationModel


@dataclass(frozen=True, slots=True)
class AttemptModel:
    """How one task type's attempts end; the default never fails and has no timeout."""

    failure_probability: float = 0.0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_ms: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.failure_probability <= 1:
            raise ValueError(f"failure_probability must be in [0, 1], got {self.failure_probability}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.timeout_ms is not None and self.timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be above 0, got {self.timeout_ms}")

    @property
    def can_fail(self) -> bool:
        return self.failure_probability > 0 or self.timeout_ms is not None


@dataclass(frozen=True, slots=True, eq=False)
class Retries:
    """The attempts after the first: `extra_us[task]` lists the run times of attempts 2, 3, ...
    of that task (absent: it ran once). `failed_last` holds the tasks whose last attempt failed
    (dead letters), `failed` counts them."""

    extra_us: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    failed_last: frozenset[int] = frozenset()

    @property
    def attempts(self) -> int:
        return sum(len(runs) for runs in self.extra_us.values())

    @property
    def failed(self) -> int:
        return len(self.failed_last)


def draw_attempts(
    rng: np.random.Generator,
    duration: DurationModel,
    model: AttemptModel,
    first_us: np.ndarray,
) -> tuple[np.ndarray, list[list[int]], np.ndarray]:
    """For tasks whose first attempt drew `first_us`: the first attempt's run time (cut at the
    timeout), each task's later attempts' run times, and whether its last attempt failed.

    One round per attempt number draws, for the tasks still failing, a failure flag and (from
    the second attempt) a fresh duration. `first_us` of 5 s with a 2 s timeout and 2 attempts
    gives a first run of 2 s and a second whose drawn duration is cut at 2 s too.
    """
    n = len(first_us)
    extra: list[list[int]] = [[] for _ in range(n)]
    timeout_us = None if model.timeout_ms is None else model.timeout_ms * 1_000
    runs = first_us if timeout_us is None else np.minimum(first_us, timeout_us)
    failing = _failed(rng, model, first_us, timeout_us)
    first = runs
    pending = np.flatnonzero(failing)
    for _ in range(model.max_attempts - 1):
        if len(pending) == 0:
            break
        drawn = duration.sample_us(rng, len(pending))
        runs = drawn if timeout_us is None else np.minimum(drawn, timeout_us)
        for task, run_us in zip(pending.tolist(), runs.tolist(), strict=True):
            extra[task].append(run_us)
        pending = pending[_failed(rng, model, drawn, timeout_us)]
    failed_last = np.zeros(n, dtype=bool)
    failed_last[pending] = True
    return first, extra, failed_last


def _failed(
    rng: np.random.Generator, model: AttemptModel, drawn_us: np.ndarray, timeout_us: int | None
) -> np.ndarray:
    failed = np.zeros(len(drawn_us), dtype=bool)
    if timeout_us is not None:
        failed |= drawn_us > timeout_us
    if model.failure_probability > 0:
        failed |= rng.random(len(drawn_us)) < model.failure_probability
    return failed


def backoff_us(attempt: int, base_ms: int, max_ms: int) -> int:
    """Delay before the attempt after `attempt`, in microseconds (the engine's backoff)."""
    return compute_backoff_ms(attempt, base_ms, max_ms) * 1_000
