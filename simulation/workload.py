"""Workload files: YAML in, a validated `Workload` out, or a `WorkloadError` naming line and field.

```yaml
task_types:
  report: {duration: {model: fixed, mean_ms: 450}}
tasks:
  - {name: hourly-reports, task_type: report, cron: "0 * * * *", count: 1000}
```

A task has exactly one of `cron` (with optional `timezone`, and `overlap: skip` for a task
whose fire times are skipped while its previous run goes on, or `overlap: queue` for one whose
runs wait for each other; `misfire: run_latest|skip_missed` with `misfire_grace_s` for what
becomes of a fire time that waited past the grace), `run_at` (ISO instant; naive means UTC),
`rate_per_min` (immediate tasks arriving as a Poisson process) or `after: {task: NAME, on:
success|finished}` (a run after each run of the task named that succeeds, or that ends for
good, at its last attempt's expected end: `simulation.chains`). `ordering_key` makes the tasks
sharing it run one after the other. `timeout_s` and `max_attempts` override the type's timeout
and attempt budget for the task. `count` stands for that many identical tasks. Line numbers
come from the composed YAML node tree, so an error points at the line of the offending key (or
of the mapping missing it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.core.cron import CronError, CronSchedule, parse_schedule
from engine.core.dependencies import DependencyTrigger, dependency_cycle
from engine.core.policies import MisfirePolicy, OverlapPolicy, TaskPolicies, combination_problem
from engine.services.schemas import MAX_GRACE_S, MAX_TASK_ATTEMPTS, MAX_TIMEOUT_S
from simulation.attempts import AttemptModel
from simulation.defaults import DEFAULT_MAX_ATTEMPTS
from simulation.durations import DurationError, DurationModel, duration_model
from simulation.limits import MAX_DURATION_MS, MAX_TASKS


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
    # `skip`: a fire time before the previous run's last attempt's expected end does not run;
    # `queue`: it starts at that end, its lag still counted from the fire time (cron tasks).
    overlap: OverlapPolicy = OverlapPolicy.ALLOW
    # Tasks sharing a key run one after the other, in due order.
    ordering_key: str | None = None
    # The index in `Workload.tasks` of the task it runs after (each of whose runs it follows at
    # the run's expected end, if the run's outcome meets `on`); then it has no schedule of its own.
    after: int | None = None
    on: DependencyTrigger = DependencyTrigger.SUCCESS
    # `run_latest` / `skip_missed` with their grace (cron tasks): what becomes of a fire time
    # that waited past the grace for its `queue` predecessor or its ordering key.
    misfire: MisfirePolicy = MisfirePolicy.RUN_ALL
    misfire_grace_s: int | None = None
    # Overrides of the type's timeout and attempt budget (None: the type's), as the engine's.
    timeout_s: int | None = None
    max_attempts: int | None = None

    @property
    def policies(self) -> TaskPolicies:
        return TaskPolicies.of(self.overlap, self.misfire, self.misfire_grace_s)


@dataclass(frozen=True, slots=True)
class Workload:
    """Task types (their durations, and how their attempts fail) and the tasks.

    A type missing from `attempts` never fails and has no timeout."""

    types: Mapping[str, DurationModel]
    tasks: tuple[TaskSpec, ...]
    attempts: Mapping[str, AttemptModel] = field(default_factory=dict)

    def attempts_of(self, index: int) -> AttemptModel | None:
        """How the attempts of task `index` end: its type's model with the task's own
        `timeout_s` and `max_attempts` in place of the type's; None for a task that never
        fails and has no timeout. A type of 3 attempts and a task with `max_attempts: 1`
        and `timeout_s: 20`: one attempt, cut at 20 s."""
        task = self.tasks[index]
        model = self.attempts.get(task.task_type)
        if task.timeout_s is None and task.max_attempts is None:
            return model
        model = model or AttemptModel()
        return replace(
            model,
            timeout_ms=model.timeout_ms if task.timeout_s is None else task.timeout_s * 1_000,
            max_attempts=model.max_attempts if task.max_attempts is None else task.max_attempts,
        )


def _not_bool(value: object) -> object:
    # pydantic reads true as 1; in a workload it is a slip, not a number.
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    return value


# Lax otherwise: PyYAML reads `1e3` (no dot) as a string, which pydantic turns into 1000.0.
Float = Annotated[float, BeforeValidator(_not_bool)]
Int = Annotated[int, BeforeValidator(_not_bool)]


class _Duration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    mean_ms: Float | None = Field(None, allow_inf_nan=False)
    p95_ms: Float | None = Field(None, allow_inf_nan=False)
    samples_ms: list[Int] = Field(default_factory=list)


class _TaskType(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duration: _Duration
    failure_probability: Float = Field(0.0, ge=0, le=1, allow_inf_nan=False)
    max_attempts: Int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=100)
    timeout_ms: Int | None = Field(None, gt=0, le=MAX_DURATION_MS)


class _After(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str
    on: Literal["success", "finished"] = "success"

    @model_validator(mode="before")
    @classmethod
    def _on_key(cls, value: object) -> object:
        # YAML 1.1 (PyYAML) reads a bare `on` key as the boolean true.
        if isinstance(value, dict) and True in value:
            value = {("on" if key is True else key): item for key, item in value.items()}
        return value


class _Task(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    task_type: str
    count: Int = Field(1, ge=1, le=MAX_TASKS)
    cron: str | None = None
    timezone: str | None = None
    run_at: datetime | None = None
    rate_per_min: Float | None = Field(None, gt=0, le=MAX_TASKS, allow_inf_nan=False)
    overlap: Literal["allow", "skip", "queue"] = "allow"
    misfire: Literal["run_all", "run_latest", "skip_missed"] = "run_all"
    misfire_grace_s: Int | None = Field(None, ge=0, le=MAX_GRACE_S)
    timeout_s: Int | None = Field(None, ge=1, le=MAX_TIMEOUT_S)
    max_attempts: Int | None = Field(None, ge=1, le=MAX_TASK_ATTEMPTS)
    ordering_key: str | None = Field(None, min_length=1, max_length=200)
    after: _After | None = None

    @field_validator("run_at", mode="before")
    @classmethod
    def _instant_not_number(cls, value: object) -> object:
        # pydantic would read a bare number as seconds since 1970.
        if isinstance(value, int | float):
            raise ValueError("expected an ISO date-time such as 2026-12-01T09:00:00Z")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> _Task:
        kinds = [self.cron is not None, self.run_at is not None, self.rate_per_min is not None]
        kinds.append(self.after is not None)
        if sum(kinds) != 1:
            raise ValueError("give exactly one of cron, run_at, rate_per_min, after")
        if self.timezone is not None and self.cron is None:
            raise ValueError("timezone applies to cron tasks only")
        if self.overlap != "allow" and self.cron is None:
            raise ValueError("overlap applies to cron tasks only")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_types: dict[str, _TaskType]
    tasks: list[_Task]


Path_ = tuple[str | int, ...]


def _node_lines(
    node: yaml.Node, path: Path_, lines: dict[Path_, int], duplicates: list[tuple[Path_, int]]
) -> None:
    """Record the 1-based line of every mapping key and sequence item under `node`, and each
    key that repeats in its mapping (YAML loaders silently keep the last)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            if child in lines and key.value != "<<":
                duplicates.append((child, key.start_mark.line + 1))
            lines[child] = key.start_mark.line + 1
            _node_lines(value, child, lines, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*path, index), lines, duplicates)


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


def _keys_allowed(path: Path_) -> list[str]:
    """The keys the mapping at `path` may hold, to list when one is unknown."""
    model: type[BaseModel]
    match path:
        case ():
            model = _File
        case ("task_types", _):
            model = _TaskType
        case ("task_types", _, "duration"):
            model = _Duration
        case ("tasks", _):
            model = _Task
        case ("tasks", _, "after"):
            model = _After
        case _:
            return []
    return list(model.model_fields)


def _syntax_error(error: yaml.MarkedYAMLError, source: str) -> WorkloadError:
    mark = error.problem_mark or error.context_mark
    message = str(error.problem)
    if error.context and error.context_mark and error.context_mark is not mark:
        message += f" ({error.context} at line {error.context_mark.line + 1})"
    return WorkloadError(source, mark.line + 1 if mark else 0, "(syntax)", message)


def _validation_message(item: Mapping[str, object], loc: Path_) -> str:
    if item["type"] == "extra_forbidden":
        allowed = ", ".join(_keys_allowed(loc[:-1]))
        return f"unknown key {loc[-1]!r}" + (f" (allowed: {allowed})" if allowed else "")
    message = str(item["msg"])
    if message.startswith(("Value error, ", "Assertion failed, ")):
        message = message.split(", ", 1)[1]
    return message


def parse_workload(text: str, source: str = "<workload>") -> Workload:
    """Parse and validate a workload document; raise WorkloadError on the first problem."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, source) from error
    except yaml.YAMLError as error:  # a reader error: a character YAML does not allow
        raise WorkloadError(source, 0, "(syntax)", str(error)) from error
    lines: dict[Path_, int] = {}
    duplicates: list[tuple[Path_, int]] = []
    if root is not None:
        _node_lines(root, (), lines, duplicates)

    def fail(path: Path_, message: str) -> WorkloadError:
        return WorkloadError(source, _line_of(lines, path), _field_name(path), message)

    if duplicates:
        path, line = duplicates[0]
        raise WorkloadError(source, line, _field_name(path), "duplicate key")
    if not isinstance(data, dict):
        raise fail((), "expected a mapping with task_types and tasks")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as error:
        # A misspelt key also leaves a required one missing; the misspelling is the news.
        errors = error.errors()
        first = next((item for item in errors if item["type"] == "extra_forbidden"), errors[0])
        loc = tuple(part for part in first["loc"] if not str(part).startswith("function-"))
        if first["type"] == "missing":
            raise fail(loc[:-1], f"{loc[-1]} is required") from error
        raise fail(loc, _validation_message(first, loc)) from error
    if not parsed.tasks:
        raise fail(("tasks",), "no tasks: list at least one")
    types: dict[str, DurationModel] = {}
    for name, spec in parsed.task_types.items():
        d = spec.duration
        try:
            types[name] = duration_model(d.model, d.mean_ms, d.p95_ms, tuple(d.samples_ms))
        except DurationError as error:
            raise fail(("task_types", name, "duration", error.field), error.message) from error
    attempts = {
        name: AttemptModel(spec.failure_probability, spec.max_attempts, spec.timeout_ms)
        for name, spec in parsed.task_types.items()
    }
    tasks = tuple(_task(parsed, index, types, fail) for index in range(len(parsed.tasks)))
    return Workload(types, _with_upstreams(parsed, tasks, fail), attempts)


def _with_upstreams(
    parsed: _File, tasks: tuple[TaskSpec, ...], fail: Callable[[Path_, str], WorkloadError]
) -> tuple[TaskSpec, ...]:
    """Each `after` task with its upstream's index: the name must be one task's, and the chain
    must not come back to the task (`engine.core.dependencies.dependency_cycle`)."""
    indexes: dict[str, list[int]] = {}
    for index, spec in enumerate(tasks):
        indexes.setdefault(spec.name, []).append(index)
    upstream_of: dict[int, int] = {}
    for index, entry in enumerate(parsed.tasks):
        if entry.after is None:
            continue
        path = ("tasks", index, "after", "task")
        found = indexes.get(entry.after.task, [])
        if len(found) != 1:
            problem = "no task is named" if not found else "more than one task is named"
            raise fail(path, f"{problem} {entry.after.task!r}")
        cycle = dependency_cycle(index, found[0], upstream_of)
        if cycle is not None:
            chain = " -> ".join(tasks[i].name for i in cycle)
            raise fail(path, f"a dependency cycle: {chain}")
        upstream_of[index] = found[0]
    return tuple(replace(task, after=upstream_of.get(index)) for index, task in enumerate(tasks))


def _task(
    parsed: _File,
    index: int,
    types: Mapping[str, DurationModel],
    fail: Callable[[Path_, str], WorkloadError],
) -> TaskSpec:
    task = parsed.tasks[index]
    if task.task_type not in types:
        known = ", ".join(sorted(types)) or "none"
        raise fail(("tasks", index, "task_type"), f"unknown type {task.task_type!r} (known: {known})")
    schedule = None
    if task.cron is not None:
        try:
            zone = task.timezone if task.timezone is not None else "UTC"
            schedule = parse_schedule(task.cron, zone)
        except CronError as error:
            field = "cron" if error.field == "cron_expression" else "timezone"
            raise fail(("tasks", index, field), error.message) from error
    run_at = task.run_at
    if run_at is not None and run_at.tzinfo is None:
        run_at = run_at.replace(tzinfo=UTC)
    overlap = OverlapPolicy(task.overlap)
    misfire = MisfirePolicy(task.misfire)
    problem = combination_problem(
        "cron" if task.cron is not None else "other", overlap, misfire, task.misfire_grace_s
    )
    if problem is not None:
        # The engine's rule, in the workload's names (`overlap`, `misfire`).
        field, message = (text.replace("_policy", "") for text in problem)
        raise fail(("tasks", index, field), message)
    return TaskSpec(
        task.name,
        task.task_type,
        task.count,
        schedule,
        run_at,
        task.rate_per_min,
        overlap,
        task.ordering_key,
        on=DependencyTrigger(task.after.on) if task.after is not None else DependencyTrigger.SUCCESS,
        misfire=misfire,
        misfire_grace_s=task.misfire_grace_s,
        timeout_s=task.timeout_s,
        max_attempts=task.max_attempts,
    )


def load_workload(path: Path) -> Workload:
    """Read and parse a workload file; unreadable files are a WorkloadError at line 0."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise WorkloadError(str(path), 0, "(file)", error.strerror or str(error)) from error
    except UnicodeDecodeError as error:
        raise WorkloadError(str(path), 0, "(file)", f"not UTF-8 text: {error.reason}") from error
    return parse_workload(text, str(path))
