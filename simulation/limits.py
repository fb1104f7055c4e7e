"""What a run accepts: bounds on its options and sizes, and the errors for input outside them.

The bounds keep bad input from turning into an overflow or an out-of-memory crash deep in
NumPy: a count of 10^20 or a fleet of 10^12 instances is a typo, and the user hears so,
naming the option or the task, instead of reading a traceback.
"""

from __future__ import annotations

import math

MAX_TASKS = 50_000_000  # due in one replication's window (the 24-hour benchmark has 10.3 M)
MAX_INSTANCES = 1_000_000  # in a fleet at any moment
MAX_HOURS = 24 * 366  # a window of at most a (leap) year
MAX_DURATION_MS = 2**31 - 1  # the engine's INTEGER columns: expected_duration_ms, elapsed_ms
MAX_SECONDS = 86_400.0  # target, poll interval, dispatch overhead, scale-up lag: one day


class ScenarioError(ValueError):
    """A scenario value out of range. `field` is the Scenario's name for it (`max_instances`),
    which the command shows as its option (`--max-instances`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    @property
    def option(self) -> str:
        return "--" + self.field.replace("_", "-")


class LimitExceeded(ValueError):
    """The workload and the window together are larger than a run can hold (`MAX_TASKS`,
    `MAX_INSTANCES`); the message names the task or minute and what to change."""


def check_within(field: str, value: float, high: float, unit: str, positive: bool = False) -> float:
    """`value` if it is finite, at least 0 (above 0 when `positive`) and at most `high`:
    `check_within("target_s", 10.0, MAX_SECONDS, "s", positive=True) == 10.0`."""
    low_ok = value > 0 if positive else value >= 0
    if not (math.isfinite(value) and low_ok and value <= high):
        low = "(0" if positive else "[0"
        raise ScenarioError(field, f"must be in {low}, {high:,.0f}] {unit}, got {value}")
    return value


def check_size(held: int, adding: int, index: int, name: str) -> int:
    """The tasks held once task `index` (`name`) adds `adding` to `held`; LimitExceeded, naming
    the task, beyond `MAX_TASKS`."""
    if held + adding > MAX_TASKS:
        raise LimitExceeded(
            f"tasks[{index}] ({name}): {adding:,} tasks in the window, {held + adding:,} so far; "
            f"a run holds at most {MAX_TASKS:,}: shorten --hours or lower count / rate_per_min"
        )
    return held + adding
