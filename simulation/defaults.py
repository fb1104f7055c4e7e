"""The engine's parameters the simulator starts from, read from `engine.settings.Settings`.

One source: the distributor's poll interval, a processor's concurrency and prefetch, and the
retry backoff are the engine's own defaults, so `headway simulate` without options models the
engine as `headway up` starts it (tests/unit/test_simulation_defaults.py fails if they drift).
A task type's timeout and attempts are per type in the engine (`task_types.timeout_ms`,
`max_attempts`, default 3); a workload file may set them, `--from-db` reads them.

The dispatch overhead is no engine setting: it is what a task costs between reaching a
processor and its recorded start (delivery, the start transaction). `headway calibrate`
measures it from recorded runs; 5 ms is the figure the README's benchmarks support on a local
network.

Example: `ENGINE_DEFAULTS.poll_interval_s == 0.5` and `ENGINE_DEFAULTS.concurrency == 4`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.settings import Settings

# task_types.max_attempts DEFAULT 3 in sql/<dialect>/0001_schema.sql.
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_DISPATCH_OVERHEAD_MS = 5.0


def _setting(field: str) -> Any:
    return Settings.model_fields[field].default


@dataclass(frozen=True, slots=True)
class EngineDefaults:
    poll_interval_s: float
    concurrency: int
    prefetch: int
    retry_base_ms: int
    retry_max_ms: int
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    dispatch_overhead_ms: float = DEFAULT_DISPATCH_OVERHEAD_MS


ENGINE_DEFAULTS = EngineDefaults(
    poll_interval_s=_setting("distributor_poll_interval_s"),
    concurrency=_setting("processor_concurrency"),
    prefetch=_setting("processor_prefetch"),
    retry_base_ms=_setting("retry_base_ms"),
    retry_max_ms=_setting("retry_max_ms"),
)
