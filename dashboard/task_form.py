"""The task fields the New task and Tasks pages share, and how a submit becomes a `TaskInput`.

Plain widgets rather than `st.form`, so the kind shows its own fields at once and the cron
preview follows the typing. Each widget's state lives under `PREFIX.FIELD` in session state;
a submit stores the problems found under `PREFIX.problems`, and each field shows its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import streamlit as st
from pydantic import ValidationError

from dashboard import data, ui
from engine.core.cron import CronError, next_fire_times, parse_schedule
from engine.core.dependencies import DependencyTrigger
from engine.core.policies import DEFAULT_MISFIRE_GRACE_S, MisfirePolicy, OverlapPolicy
from engine.core.types import TaskKind
from engine.services.schemas import FieldProblem, TaskInput
from engine.services.tasks import Task, TaskNotFound
from engine.services.validation import field_problems

PREVIEW_COUNT = 5
KIND_LABELS = {
    TaskKind.CRON: "Recurring (cron)",
    TaskKind.ONCE: "One-off (at a time)",
    TaskKind.IMMEDIATE: "Immediate (as soon as possible)",
    TaskKind.AFTER: "After another task",
}
FIELDS = (
    "name",
    "task_type",
    "kind",
    "cron_expression",
    "timezone",
    "run_at_date",
    "run_at_time",
    "payload",
    "active",
    "overlap_policy",
    "misfire_policy",
    "misfire_grace_s",
    "timeout_s",
    "max_attempts",
    "ordering_key",
    "after_task_id",
    "after_on",
)
AFTER_LABELS = {
    DependencyTrigger.SUCCESS: "success: after each run that succeeds",
    DependencyTrigger.FINISHED: "finished: after each run that ends (succeeded, failed or dead)",
}
OVERLAP_LABELS = {
    OverlapPolicy.ALLOW: "allow: run it alongside",
    OverlapPolicy.SKIP: "skip: record it Skipped",
    OverlapPolicy.QUEUE: "queue: run it after",
}
MISFIRE_LABELS = {
    MisfirePolicy.RUN_ALL: "run_all: run every missed time",
    MisfirePolicy.RUN_LATEST: "run_latest: run the latest once",
    MisfirePolicy.SKIP_MISSED: "skip_missed: run none of them",
}


def key(prefix: str, field: str) -> str:
    return f"{prefix}.{field}"


@lru_cache(maxsize=1)
def timezone_names() -> list[str]:
    return ["UTC", *sorted(name for name in available_timezones() if name != "UTC")]


def _defaults(task: Task | None, now: datetime, task_types: list[str]) -> dict[str, Any]:
    later = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    run_at = task.run_at if task is not None and task.run_at is not None else later
    if task is None:
        return {
            "name": "",
            "task_type": task_types[0] if task_types else None,
            "kind": TaskKind.CRON,
            "cron_expression": "",
            "timezone": "UTC",
            "run_at_date": run_at.date(),
            "run_at_time": run_at.time().replace(tzinfo=None),
            "payload": "{}",
            "active": True,
            "overlap_policy": OverlapPolicy.ALLOW,
            "misfire_policy": MisfirePolicy.RUN_ALL,
            "misfire_grace_s": None,
            "timeout_s": None,
            "max_attempts": None,
            "ordering_key": "",
            "after_task_id": None,
            "after_on": DependencyTrigger.SUCCESS,
        }
    return {
        "name": task.name,
        "task_type": task.task_type,
        "kind": task.kind,
        "cron_expression": task.cron_expression or "",
        "timezone": task.timezone or "UTC",
        "run_at_date": run_at.astimezone(UTC).date(),
        "run_at_time": run_at.astimezone(UTC).time().replace(tzinfo=None),
        "payload": json.dumps(task.payload, indent=2),
        "active": task.active,
        "overlap_policy": task.overlap_policy,
        "misfire_policy": task.misfire_policy,
        "misfire_grace_s": task.misfire_grace_s,
        "timeout_s": task.timeout_s,
        "max_attempts": task.max_attempts,
        "ordering_key": task.ordering_key or "",
        "after_task_id": task.after.task_id if task.after is not None else None,
        "after_on": task.after.on if task.after is not None else DependencyTrigger.SUCCESS,
    }


def render_fields(prefix: str, task_types: list[str], now: datetime, task: Task | None = None) -> None:
    """Draw the fields, filled from `task` (or empty) the first time `prefix` is shown."""
    for field, value in _defaults(task, now, task_types).items():
        st.session_state.setdefault(key(prefix, field), value)
    problems: dict[str, str] = st.session_state.get(key(prefix, "problems"), {})
    st.text_input("Name", key=key(prefix, "name"), max_chars=200)
    _field_error(problems, "name")
    types = list(task_types)
    if st.session_state[key(prefix, "task_type")] not in types:
        types.append(st.session_state[key(prefix, "task_type")])
    st.selectbox("Task type", types, key=key(prefix, "task_type"))
    _field_error(problems, "task_type")
    kind = st.radio(
        "Kind",
        list(KIND_LABELS),
        key=key(prefix, "kind"),
        format_func=KIND_LABELS.__getitem__,
        horizontal=True,
    )
    _field_error(problems, "kind")
    if kind is TaskKind.CRON:
        _cron_fields(prefix)
        _policy_fields(prefix, problems)
    elif kind is TaskKind.ONCE:
        left, right = st.columns(2)
        left.date_input("Run on (UTC)", key=key(prefix, "run_at_date"))
        right.time_input("At (UTC)", key=key(prefix, "run_at_time"), step=timedelta(minutes=1))
        _field_error(problems, "run_at")
    elif kind is TaskKind.AFTER:
        left, right = st.columns([2, 3])
        left.number_input("Upstream task id", key=key(prefix, "after_task_id"), min_value=1, step=1)
        right.selectbox(
            "Run it when the upstream's run...",
            list(AFTER_LABELS),
            key=key(prefix, "after_on"),
            format_func=AFTER_LABELS.__getitem__,
        )
        _field_error(problems, "after")
    st.text_area("Payload (JSON object)", key=key(prefix, "payload"), height=100)
    _field_error(problems, "payload")
    left, right = st.columns(2)
    left.number_input(
        "Timeout (s)", key=key(prefix, "timeout_s"), min_value=1, step=1, placeholder="the task type's"
    )
    right.number_input(
        "Max attempts", key=key(prefix, "max_attempts"), min_value=1, step=1, placeholder="the task type's"
    )
    _field_error(problems, "timeout_s")
    _field_error(problems, "max_attempts")
    st.text_input(
        "Ordering key",
        key=key(prefix, "ordering_key"),
        max_chars=200,
        help="Tasks sharing a key start one at a time, in scheduled order. Empty: none.",
    )
    _field_error(problems, "ordering_key")
    st.checkbox("Active", key=key(prefix, "active"))


@st.fragment
def _cron_fields(prefix: str) -> None:
    """Expression, zone and the next fire times; a fragment, so typing reruns only this."""
    problems: dict[str, str] = st.session_state.get(key(prefix, "problems"), {})
    left, right = st.columns([3, 2])
    left.text_input(
        "Cron expression",
        key=key(prefix, "cron_expression"),
        live=True,
        placeholder="*/15 9-17 * * mon-fri",
        help="Five fields: minute hour day-of-month month day-of-week; also @hourly, @daily, ...",
    )
    zones = timezone_names()
    if st.session_state[key(prefix, "timezone")] not in zones:
        zones = [st.session_state[key(prefix, "timezone")], *zones]
    right.selectbox("Timezone", zones, key=key(prefix, "timezone"))
    _field_error(problems, "cron_expression")
    _field_error(problems, "timezone")
    _preview(
        st.session_state[key(prefix, "cron_expression")].strip(), st.session_state[key(prefix, "timezone")]
    )


def _policy_fields(prefix: str, problems: dict[str, str]) -> None:
    """A cron task's scheduling policies (docs/scheduling.md); the defaults run every fire time."""
    with st.expander("Scheduling policies", expanded=key(prefix, "problems") in st.session_state):
        st.selectbox(
            "While an earlier run is queued or running, a fire time...",
            list(OVERLAP_LABELS),
            key=key(prefix, "overlap_policy"),
            format_func=OVERLAP_LABELS.__getitem__,
        )
        _field_error(problems, "overlap_policy")
        left, right = st.columns([3, 2])
        left.selectbox(
            "Fire times missed (e.g. during an outage)",
            list(MISFIRE_LABELS),
            key=key(prefix, "misfire_policy"),
            format_func=MISFIRE_LABELS.__getitem__,
        )
        right.number_input(
            "Missed after (s)",
            key=key(prefix, "misfire_grace_s"),
            min_value=0,
            step=1,
            placeholder=f"{DEFAULT_MISFIRE_GRACE_S} (default)",
            help="Seconds late before a fire time counts as missed; only with run_latest or skip_missed.",
        )
        _field_error(problems, "misfire_policy")
        _field_error(problems, "misfire_grace_s")


def _preview(expression: str, timezone: str) -> None:
    if not expression:
        st.caption(f"Type an expression to see its next {PREVIEW_COUNT} fire times.")
        return
    now = data.utc_now()
    try:
        times = next_fire_times(parse_schedule(expression, timezone), now, PREVIEW_COUNT)
    except CronError as error:
        st.caption(f":red[{error.field}: {error.message}]")
        return
    columns = {"UTC": [ui.clock(t, now) for t in times]}
    if timezone != "UTC":
        columns[timezone] = [t.astimezone(ZoneInfo(timezone)).strftime("%a %Y-%m-%d %H:%M") for t in times]
    columns["from now"] = [ui.from_now(t, now) for t in times]
    words = ui.cron_in_words(expression)
    st.caption(
        f"{words} ({timezone}). Next {PREVIEW_COUNT} fire times:"
        if words
        else f"Next {PREVIEW_COUNT} fire times"
    )
    st.dataframe(columns, hide_index=True)


def _field_error(problems: dict[str, str], field: str) -> None:
    if field in problems:
        st.error(f"**{field}**: {problems[field]}", icon=":material/error:")


def collect(prefix: str) -> tuple[TaskInput | None, list[FieldProblem]]:
    """The task the fields describe, or the problems that stop it, each naming its field."""
    state = st.session_state
    kind = TaskKind(state[key(prefix, "kind")])
    fields: dict[str, Any] = {
        "name": state[key(prefix, "name")],
        "task_type": state[key(prefix, "task_type")],
        "kind": kind,
        "active": state[key(prefix, "active")],
        # Overrides of the task type's; an empty box keeps the type's.
        "timeout_s": _whole(state[key(prefix, "timeout_s")]),
        "max_attempts": _whole(state[key(prefix, "max_attempts")]),
        "ordering_key": state[key(prefix, "ordering_key")] or None,
    }
    try:
        fields["payload"] = json.loads(state[key(prefix, "payload")] or "{}")
    except json.JSONDecodeError as error:
        return None, [FieldProblem("payload", f"not valid JSON ({error.msg} at position {error.pos})")]
    if kind is TaskKind.CRON:
        fields["cron_expression"] = state[key(prefix, "cron_expression")].strip() or None
        fields["timezone"] = state[key(prefix, "timezone")]
        fields["overlap_policy"] = state[key(prefix, "overlap_policy")]
        fields["misfire_policy"] = state[key(prefix, "misfire_policy")]
        fields["misfire_grace_s"] = _whole(state[key(prefix, "misfire_grace_s")])
    elif kind is TaskKind.ONCE:
        day = state[key(prefix, "run_at_date")]
        at: time = state[key(prefix, "run_at_time")]
        fields["run_at"] = datetime.combine(day, at, tzinfo=UTC) if day and at else None
    elif kind is TaskKind.AFTER:
        upstream = _whole(state[key(prefix, "after_task_id")])
        if upstream is not None:
            fields["after"] = {"task_id": upstream, "on": state[key(prefix, "after_on")]}
    try:
        return TaskInput.model_validate(fields), []
    except ValidationError as error:
        return None, field_problems(error)


def _whole(value: float | None) -> int | None:
    return int(value) if value is not None else None


def submit(prefix: str, save: Callable[[TaskInput], Task]) -> Task | None:
    """Validate the fields and hand the task to `save` (a service call). Problems from
    validation or from the service are kept for the fields to show; None if not saved."""
    spec, problems = collect(prefix)
    saved = None
    if spec is not None:
        try:
            saved = save(spec)
        except FieldProblem as problem:
            problems = [problem]
        except TaskNotFound as missing:
            problems = [FieldProblem("task", str(missing))]
    st.session_state[key(prefix, "problems")] = {problem.field: problem.message for problem in problems}
    if saved is not None:
        data.forget_task_reads()
    return saved


def problems_summary(prefix: str) -> None:
    """One line above the fields when the last submit was refused."""
    problems: dict[str, str] = st.session_state.get(key(prefix, "problems"), {})
    if problems:
        listed = "; ".join(f"{field}: {message}" for field, message in problems.items())
        st.error(f"Not saved. {listed}")


def forget(prefix: str) -> None:
    """Drop the fields' state, so the next render starts from the defaults again."""
    for field in (*FIELDS, "problems"):
        st.session_state.pop(key(prefix, field), None)
