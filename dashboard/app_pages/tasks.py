"""Tasks: a filtered, paged grid with each task's next run and last outcome; pick one to
edit it, run it now or set it inactive."""

import math
from collections.abc import Callable

import streamlit as st

from dashboard import data, task_form, ui
from engine.core.types import TaskKind
from engine.services.schemas import TaskInput
from engine.services.tasks import (
    NO_RUN_YET,
    Task,
    TaskNotFound,
    TaskPage,
    get_task,
    run_now,
    set_inactive,
    update_task,
)

PAGE_SIZES = (25, 50, 100, 200)
ANY = "any"
OUTCOMES = {ANY: None, "succeeded": "Succeeded", "failed": "Failed", "dead": "Dead", "no run yet": NO_RUN_YET}
HISTORY_LIMIT = 20

database_url = ui.require_database()
now = data.utc_now()


def first_page() -> None:
    st.session_state["tasks.page"] = 1


def schedule_in_words(task: Task) -> str:
    if task.kind is TaskKind.CRON and task.cron_expression:
        return ui.cron_in_words(task.cron_expression)
    return ""


def describe_schedule(task: Task) -> str:
    if task.kind is TaskKind.CRON:
        return f"{task.cron_expression} ({task.timezone})"
    if task.kind is TaskKind.ONCE and task.run_at is not None:
        return f"at {ui.clock(task.run_at, now)}"
    if task.kind is TaskKind.AFTER and task.after is not None:
        return f"after #{task.after.task_id} ({task.after.on.value})"
    return "as soon as possible"


st.title("Tasks")
types = data.load_task_types(database_url)
type_column, kind_column, active_column, outcome_column, name_column = st.columns([2, 2, 2, 2, 3])
task_type = type_column.selectbox("Type", [ANY, *types], key="tasks.type", on_change=first_page)
kind = kind_column.selectbox(
    "Kind", [ANY, *[k.value for k in TaskKind]], key="tasks.kind", on_change=first_page
)
active = active_column.selectbox(
    "Active", [ANY, "active", "inactive"], key="tasks.active", on_change=first_page
)
outcome = outcome_column.selectbox("Last outcome", list(OUTCOMES), key="tasks.outcome", on_change=first_page)
name_contains = name_column.text_input("Name contains", key="tasks.name", live=True, on_change=first_page)

size_column, page_column, total_column = st.columns([2, 2, 5])
page_size = size_column.selectbox("Rows per page", PAGE_SIZES, key="tasks.page_size", on_change=first_page)


def load_page(number: int) -> TaskPage:
    return data.load_task_page(
        database_url,
        None if task_type == ANY else task_type,
        None if kind == ANY else TaskKind(kind),
        None if active == ANY else active == "active",
        name_contains.strip() or None,
        page_size,
        (number - 1) * page_size,
        data.live_instant(now),
        OUTCOMES[outcome],
    )


task_page = load_page(st.session_state.get("tasks.page", 1))
pages = max(1, math.ceil(task_page.total / page_size))
if st.session_state.get("tasks.page", 1) > pages:  # the filters left fewer pages
    st.session_state["tasks.page"] = pages
    task_page = load_page(pages)
page_number = int(page_column.number_input("Page", min_value=1, max_value=pages, step=1, key="tasks.page"))
first = (page_number - 1) * page_size
total_column.markdown(
    f"<br>{task_page.total} tasks; showing {first + 1 if task_page.items else 0}"
    f"-{first + len(task_page.items)}",
    unsafe_allow_html=True,
)

grid = st.dataframe(
    {
        "id": [t.id for t in task_page.items],
        "name": [t.name for t in task_page.items],
        "type": [t.task_type for t in task_page.items],
        "schedule": [describe_schedule(t) for t in task_page.items],
        "in words": [schedule_in_words(t) for t in task_page.items],
        "active": [t.active for t in task_page.items],
        "next run": [ui.shown_instant(t.next_run) for t in task_page.items],
        "due": [ui.due(t.next_run, now) for t in task_page.items],
        "last outcome": [t.last_run_status or "" for t in task_page.items],
    },
    hide_index=True,
    key="tasks.grid",
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        # Together under the 950 px a 1440 px wide window leaves beside the navigation.
        "id": st.column_config.NumberColumn(width=50),
        "name": st.column_config.TextColumn(width=140),
        "type": st.column_config.TextColumn(width=75),
        "schedule": st.column_config.TextColumn(width=125),
        "in words": st.column_config.TextColumn(width=165),
        "active": st.column_config.CheckboxColumn(width=50),
        "next run": st.column_config.TextColumn(width=135),
        "due": st.column_config.TextColumn(
            width=95, help="When the next run comes, or how long it is overdue"
        ),
        "last outcome": st.column_config.TextColumn(width=85),
    },
)

by_id = {t.id: t for t in task_page.items}
# A click in the grid picks the task below; after that the picker may change it again.
rows = list(grid.selection.rows) if grid is not None else []
clicked = task_page.items[rows[0]].id if rows and rows[0] < len(task_page.items) else None
if clicked is not None and clicked != st.session_state.get("tasks.clicked"):
    st.session_state["tasks.selected"] = clicked
st.session_state["tasks.clicked"] = clicked
# A change renames the picker's option, and Streamlit resets a picker whose options change:
# the task just changed is picked again.
if st.session_state.get("tasks.reselect") in by_id:
    st.session_state["tasks.selected"] = st.session_state.pop("tasks.reselect")
if st.session_state.get("tasks.selected") not in by_id:
    st.session_state.pop("tasks.selected", None)
if not by_id:
    st.info("No task matches these filters.")
    st.stop()

selected_id = st.selectbox(
    "Task to edit",
    list(by_id),
    key="tasks.selected",
    index=None,
    placeholder="Pick a task here or click a row in the grid",
    format_func=lambda task_id: f"#{task_id} {by_id[task_id].name}",
)
if selected_id is None:
    st.stop()
task = by_id[selected_id]
prefix = f"edit.{task.id}.{task.updated_at.timestamp()}"
engine = data.get_engine(database_url)


def save_changes() -> None:
    def save(spec: TaskInput) -> Task:
        return update_task(engine, task.id, spec, data.utc_now())

    if task_form.submit(prefix, save) is not None:
        st.session_state["tasks.notice"] = f"Saved task #{task.id}."
        st.session_state["tasks.reselect"] = task.id


def _act_on_task(change: Callable[[], object], done: str) -> None:
    """Run a change on the selected task and leave the notice the next rerun shows."""
    try:
        change()
    except TaskNotFound as missing:
        st.session_state["tasks.notice"] = f"Not changed: {missing}."
        return
    data.forget_task_reads()
    st.session_state["tasks.notice"] = done
    st.session_state["tasks.reselect"] = task.id


def deactivate() -> None:
    stopped: list[Task] = []
    _act_on_task(
        lambda: stopped.append(set_inactive(engine, task.id, data.utc_now())),
        f"Task #{task.id} is inactive; its scheduled runs are removed.",
    )
    if stopped and stopped[0].warnings:  # its active dependents are no longer triggered
        st.session_state["tasks.notice"] += " " + " ".join(stopped[0].warnings)


@st.dialog("Set this task inactive?")
def confirm_deactivate() -> None:
    st.markdown(
        f"**#{task.id} {task.name}** stops running: its scheduled runs are removed, and nothing "
        "is scheduled until it is made active again. Runs already started finish."
    )
    yes, no = st.columns(2)
    # The change runs as the click's callback, so it happens whether the click reruns the
    # dialog alone or the whole page; the rerun then closes the dialog.
    if yes.button("Set inactive", type="primary", key="tasks.deactivate.confirm", on_click=deactivate):
        st.rerun()
    if no.button("Cancel", key="tasks.deactivate.cancel"):
        st.rerun()


def run_once_now() -> None:
    _act_on_task(
        lambda: run_now(engine, task.id, data.utc_now()),
        f"Task #{task.id} will run as soon as a processor is free.",
    )


notice = st.session_state.pop("tasks.notice", None)
if notice:
    st.success(notice)
st.subheader(f"#{task.id} {task.name}")
next_column, outcome_column, inactive_column, run_column = st.columns([3, 3, 2, 2])
next_column.metric(
    "Next run",
    ui.clock(task.next_run, now) if task.next_run else "none ahead",
    delta=ui.due(task.next_run, now) or None,
    delta_color="inverse" if task.next_run and task.next_run < now else "off",
    delta_arrow="off",
)
outcome_column.metric(
    "Last outcome",
    task.last_run_status or "no run yet",
    delta=f"finished {ui.clock(task.last_run_at, now)}" if task.last_run_at else None,
    delta_color="off",
    delta_arrow="off",
)
if inactive_column.button("Set inactive…", disabled=not task.active, key="tasks.deactivate"):
    confirm_deactivate()
run_column.button("Run now", on_click=run_once_now, key="tasks.run_now")
try:
    # Read with the task alone: an inactive or deleted upstream, or dependents left waiting.
    alone = get_task(engine, task.id)
    for warning in alone.warnings:
        st.warning(warning, icon=":material/link_off:")
    if alone.dependents:
        st.caption("Tasks after it: " + ", ".join(f"#{i}" for i in alone.dependents))
except TaskNotFound:
    pass
task_form.problems_summary(prefix)
with st.container(border=True):
    task_form.render_fields(prefix, types, now, task)
    st.button("Save changes", type="primary", on_click=save_changes, key="tasks.save")

st.subheader("Run history")
runs = data.load_runs(database_url, task.id, HISTORY_LIMIT)
if runs.items:
    st.caption(f"The latest {len(runs.items)} of {runs.total} attempts, newest first.")
    st.dataframe(
        {
            "attempt": [r.attempt for r in runs.items],
            "status": [r.status for r in runs.items],
            "outcome": [r.outcome or "" for r in runs.items],
            "started": [ui.shown_instant(r.started_at) for r in runs.items],
            "elapsed ms": [f"{r.elapsed_ms:,}" if r.elapsed_ms is not None else "" for r in runs.items],
            "error": [(r.error or "")[:200] for r in runs.items],
        },
        hide_index=True,
    )
else:
    st.caption("No attempt yet.")
