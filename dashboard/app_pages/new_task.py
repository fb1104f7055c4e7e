"""New task: the create form, validated by the service layer's `TaskInput`."""

import streamlit as st

from dashboard import data, task_form, ui
from engine.services.schemas import TaskInput
from engine.services.tasks import Task, create_task

PREFIX = "new"

database_url = ui.require_database()
now = data.utc_now()


def create() -> None:
    def save(spec: TaskInput) -> Task:
        return create_task(data.get_engine(database_url), spec, data.utc_now())

    task = task_form.submit(PREFIX, save)
    if task is not None:
        st.session_state["new.created"] = (task.id, task.name)
        task_form.forget(PREFIX)


st.title("New task")
created = st.session_state.pop("new.created", None)
if created is not None:
    st.success(f"Created task #{created[0]} ({created[1]}). The Scheduler adds its runs on its next pass.")
task_form.problems_summary(PREFIX)
with st.container(border=True):
    task_form.render_fields(PREFIX, data.load_task_types(database_url), now)
    st.button("Create task", type="primary", on_click=create)
