"""Dead letters: the runs that used up their attempts, with replay, through the same service
as `headway dlq replay` (`engine.services.dead_letters.replay_dead_letters`)."""

import streamlit as st

from dashboard import data, ui
from engine.ports import BrokerUnavailable
from engine.services.dead_letters import ReplayReport, replay_dead_letters

LIST_LIMIT = 500
REPLAY_LIMIT = 10_000

database_url = ui.require_database()
now = data.utc_now()

st.title("Dead letters")
st.caption(
    "Runs that failed on every attempt. Replay gives a run a fresh set of attempts: its row goes "
    "back to Scheduled and its message leaves the dead-letter queue (`headway dlq replay`)."
)
notice = st.session_state.pop("dlq.notice", None)
if notice:
    st.success(notice)
rows = data.load_dead_rows(database_url, LIST_LIMIT)
if not rows:
    st.info("No dead letters.")
    st.stop()

st.dataframe(
    {
        "row": [r.schedule_id for r in rows],
        "type": [r.task_type for r in rows],
        "attempts": [r.attempt for r in rows],
        "died": [ui.shown_instant(r.finished_at) for r in rows],
        "reason": [r.reason[:300] for r in rows],
    },
    hide_index=True,
    column_config={
        "row": st.column_config.NumberColumn(width=80),
        "reason": st.column_config.TextColumn(width=600),
    },
)
st.caption(
    f"{len(rows)} dead letters{' (the oldest shown)' if len(rows) == LIST_LIMIT else ''}, oldest first."
)
by_id = {r.schedule_id: r for r in rows}
picked = st.multiselect(
    "Rows to replay",
    list(by_id),
    key="dlq.picked",
    format_func=lambda row: f"row {row} ({by_id[row].task_type})",
    placeholder="Pick dead letters by row",
)


def describe(report: ReplayReport) -> str:
    said = f"Replayed {report.replayed} dead letters"
    if report.already_replayed:
        said += f"; {report.already_replayed} were replayed already"
    if report.not_dead:
        said += f"; not dead, left alone: row {', '.join(map(str, report.not_dead))}"
    return said + "."


def replay(schedule_ids: list[int]) -> None:
    settings = data.settings()
    broker = data.open_broker(settings.broker_url, settings.queue, settings.queue_type)
    try:
        report = replay_dead_letters(data.get_engine(database_url), broker, set(schedule_ids), REPLAY_LIMIT)
    except BrokerUnavailable as error:
        st.session_state["dlq.notice"] = f"Nothing replayed: {error}"
        return
    finally:
        broker.close()
    data.forget_task_reads()
    st.session_state.pop("dlq.picked", None)
    st.session_state["dlq.notice"] = describe(report)


@st.dialog("Replay these dead letters?")
def confirm_replay(schedule_ids: list[int]) -> None:
    st.markdown(
        f"Rows **{', '.join(map(str, schedule_ids))}** go back to Scheduled with a fresh set of attempts; "
        "the distributor hands them to processors at once."
    )
    yes, no = st.columns(2)
    if yes.button("Replay", type="primary", key="dlq.replay.confirm", on_click=replay, args=(schedule_ids,)):
        st.rerun()
    if no.button("Cancel", key="dlq.replay.cancel"):
        st.rerun()


if st.button(
    f"Replay {len(picked)} selected…" if picked else "Replay selected…",
    disabled=not picked,
    key="dlq.replay",
    help="Pick rows above first",
):
    confirm_replay(sorted(picked))
