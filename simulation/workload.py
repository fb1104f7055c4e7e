"""Workload files: YAML in, a validated `Workload` out, or a `WorkloadError` naming line and field.

```yaml
task_types:
  report: {duration: {model: fixed, mean_ms: 450}}
tasks:
  - {name: hourly-reports, task_type: report, cron: "0 * * * *", count: 1000}
```

A task has exactly one of `cron` (with optional `timezone`), `run_at` (ISO instant; naive
means UTC) or `rate_per_min` (immediate tasks arriving as a Poisson process). `count` stands
for that many identical tasks. Line numbers come from the composed YAML node tree, so an error
points at the line of the offending key (or of the mapping missing it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.core.cron import CronError, CronSchedule, parse_schedule
from simulation.durations import DurationError, DurationModel, duration_model


class WorkloadError(ValueError):
    """Bad input: `source:line: field: message` (line 0 when unknown)."""

    def __init__(self, source: str, line: int, field: str, message: str) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {field}: {message}")
        self.source = source
        self.line = line
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One workload entry; exactly one of `schedule`, `run_at`, `rate_per_min` is set."""

    name: str
    task_type: str
    count: int = 1
    schedule: CronSchedule | None = None
    run_at: datetime | None = None
    rate_per_min: float | None = None


@dataclass(frozen=True, slots=True)
class Workload:
    types: Mapping[str, DurationModel]
    tasks: tuple[TaskSpec, ...]


class _Duration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    mean_ms: float | None = None
    p95_ms: float | None = None
    samples_ms: list[int] = Field(default_factory=list)


class _TaskType(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duration: _Duration


class _Task(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    task_type: str
    count: int = Field(1, ge=1)
    cron: str | None = None
    timezone: str | None = None
    run_at: datetime | None = None
    rate_per_min: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> _Task:
        kinds = [self.cron is not None, self.run_at is not None, self.rate_per_min is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of cron, run_at, rate_per_min")
        if self.timezone is not None and self.cron is None:
            raise ValueError("timezone applies to cron tasks only")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_types: dict[str, _TaskType]
    tasks: list[_Task]


Path_ = tuple[str | int, ...]


def _node_lines(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    """Record the 1-based line of every mapping key and sequence item under `node`."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            lines[child] = key.start_mark.line + 1
            _node_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*path, index), lines)


def _line_of(lines: Mapping[Path_, int], path: Path_) -> int:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return 0


def _field_name(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(file)"


def parse_workload(text: str, source: str = "<workload>") -> Workload:
    """Parse and validate a workload document; raise WorkloadError on the first problem."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 0
        raise WorkloadError(source, line, "(syntax)", str(error.problem)) from error
    lines: dict[Path_, int] = {}
    if root is not None:
        _node_lines(root, (), lines)

    def fail(path: Path_, message: str) -> WorkloadError:
        return WorkloadError(source, _line_of(lines, path), _field_name(path), message)

    if not isinstance(data, dict):
        raise fail((), "expected a mapping with task_types and tasks")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(part for part in first["loc"] if not str(part).startswith("function-"))
        if first["type"] == "missing":
            raise fail(loc[:-1], f"{loc[-1]} is required") from error
        raise fail(loc, first["msg"]) from error
    types: dict[str, DurationModel] = {}
    for name, spec in parsed.task_types.items():
        d = spec.duration
        try:
            types[name] = duration_model(d.model, d.mean_ms, d.p95_ms, tuple(d.samples_ms))
        except DurationError as error:
            raise fail(("task_types", name, "duration", error.field), error.message) from error
    return Workload(
        types, tuple(_task(parsed, index, types, fail) for index in range(len(parsed.tasks)))
    )


def _task(
    parsed: _File,
    index: int,
    types: Mapping[str, DurationModel],
    fail: Callable[[Path_, str], WorkloadError],
) -> TaskSpec:
    task = parsed.tasks[index]
    if task.task_type not in types:
        known = ", ".join(sorted(types)) or "none"
        raise fail(
            ("tasks", index, "task_type"), f"unknown type {task.task_type!r} (known: {known})"
        )
    schedule = None
    if task.cron is not None:
        try:
            schedule = parse_schedule(task.cron, task.timezone or "UTC")
        except CronError as error:
            field = "cron" if error.field == "cron_expression" else "timezone"
            raise fail(("tasks", index, field), error.message) from error
    run_at = task.run_at
    if run_at is not None and run_at.tzinfo is None:
        run_at = run_at.replace(tzinfo=UTC)
    return TaskSpec(task.name, task.task_type, task.count, schedule, run_at, task.rate_per_min)


def load_workload(path: Path) -> Workload:
    """Read and parse a workload file; unreadable files are a WorkloadError at line 0."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise WorkloadError(str(path), 0, "(file)", error.strerror or str(error)) from error
    return parse_workload(text, str(path))
