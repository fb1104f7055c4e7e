"""Dead letters: the runs that used up their attempts, with replay and discard, through the
same service as `headway dlq replay` and `headway dlq discard` (`engine.services.dead_letters`)."""

from collections.abc import Callable

import streamlit as st

from dashboard import data, ui
from engine.adapters.brokers import open_broker
from engine.ports import Broker, BrokerUnavailable
from engine.services.dead_letters import (
    DeadRow,
    DiscardReport,
    ReplayReport,
    discard_dead_letters,
    replay_dead_letters,
)

LIST_LIMIT = 500
ACTION_LIMIT = 10_000

database_url = ui.require_database()
now = data.utc_now()

st.title("Dead letters")
st.caption(
    "Runs that failed on every attempt. Replay gives a run a fresh set of attempts: its row goes "
    "back to Scheduled and its message leaves the dead-letter queue (`headway dlq replay`). "
    "Discard gives up on it: the row stays as history, no longer listed nor replayable, and its "
    "message goes (`headway dlq discard`)."
)
notice = st.session_state.pop("dlq.notice", None)
if notice:
    st.success(notice)


def show(rows: list[DeadRow], discarded: bool) -> None:
    columns = {
        "row": [r.schedule_id for r in rows],
        "type": [r.task_type for r in rows],
        "attempts": [r.attempt for r in rows],
        "died": [ui.shown_instant(r.finished_at) for r in rows],
    }
    if discarded:
        columns["discarded"] = [ui.shown_instant(r.discarded_at) for r in rows]
    st.dataframe(
        columns | {"reason": [r.reason[:300] for r in rows]},
        hide_index=True,
        column_config={
            "row": st.column_config.NumberColumn(width=80),
            "reason": st.column_config.TextColumn(width=600),
        },
    )


if st.toggle("Show discarded", key="dlq.show_discarded"):
    gone = data.load_dead_rows(database_url, LIST_LIMIT, discarded=True)
    if not gone:
        st.info("Nothing discarded.")
    else:
        show(gone, discarded=True)
        st.caption(f"{len(gone)} discarded dead letters, latest discarded first.")
    st.stop()

rows = data.load_dead_rows(database_url, LIST_LIMIT)
if not rows:
    st.info("No dead letters.")
    st.stop()

show(rows, discarded=False)
st.caption(
    f"{len(rows)} dead letters{' (the oldest shown)' if len(rows) == LIST_LIMIT else ''}, oldest first."
)
by_id = {r.schedule_id: r for r in rows}
picked = st.multiselect(
    "Rows to replay or discard",
    list(by_id),
    key="dlq.picked",
    format_func=lambda row: f"row {row} ({by_id[row].task_type})",
    placeholder="Pick dead letters by row",
)


def rows_said(ids: list[int]) -> str:
    return ", ".join(map(str, ids))


def describe_replay(report: ReplayReport) -> str:
    said = f"Replayed {report.replayed} dead letters"
    if report.already_replayed:
        said += f"; {report.already_replayed} were replayed already"
    if report.discarded:
        said += f"; discarded, not replayed: row {rows_said(report.discarded)}"
    if report.not_dead:
        said += f"; not dead, left alone: row {rows_said(report.not_dead)}"
    return said + "."


def describe_discard(report: DiscardReport) -> str:
    said = f"Discarded {report.discarded} dead letters"
    if report.not_dead:
        said += f"; no longer dead letters, left alone: row {rows_said(report.not_dead)}"
    return said + "."


def act(verb: str, run: Callable[[Broker], str]) -> None:
    """Open the broker for one action; the outcome is shown after the rerun."""
    settings = data.settings()
    broker = open_broker(settings.broker_url, settings.queue, settings.queue_type)
    try:
        st.session_state["dlq.notice"] = run(broker)
    except BrokerUnavailable as error:
        st.session_state["dlq.notice"] = f"Nothing {verb}: {error}"
        return
    finally:
        broker.close()
    data.forget_task_reads()
    st.session_state.pop("dlq.picked", None)


def replay(schedule_ids: list[int]) -> None:
    engine = data.get_engine(database_url)
    act(
        "replayed",
        lambda broker: describe_replay(replay_dead_letters(engine, broker, set(schedule_ids), ACTION_LIMIT)),
    )


def discard(schedule_ids: list[int]) -> None:
    engine = data.get_engine(database_url)
    # The instant of the click, not of the page's render: the dialog may stay open a while.
    act(
        "discarded",
        lambda broker: describe_discard(
            discard_dead_letters(engine, broker, set(schedule_ids), ACTION_LIMIT, data.utc_now())
        ),
    )


@st.dialog("Replay these dead letters?")
def confirm_replay(schedule_ids: list[int]) -> None:
    st.markdown(
        f"Rows **{rows_said(schedule_ids)}** go back to Scheduled with a fresh set of attempts; "
        "the distributor hands them to processors at once."
    )
    yes, no = st.columns(2)
    if yes.button("Replay", type="primary", key="dlq.replay.confirm", on_click=replay, args=(schedule_ids,)):
        st.rerun()
    if no.button("Cancel", key="dlq.replay.cancel"):
        st.rerun()


@st.dialog("Discard these dead letters?")
def confirm_discard(schedule_ids: list[int]) -> None:
    st.markdown(
        f"Rows **{rows_said(schedule_ids)}** will not run again: they stay as history (see "
        "*Show discarded*) but can no longer be replayed, and their messages leave the dead-letter queue."
    )
    yes, no = st.columns(2)
    if yes.button(
        "Discard", type="primary", key="dlq.discard.confirm", on_click=discard, args=(schedule_ids,)
    ):
        st.rerun()
    if no.button("Cancel", key="dlq.discard.cancel"):
        st.rerun()


replay_column, discard_column = st.columns(2)
if replay_column.button(
    f"Replay {len(picked)} selected…" if picked else "Replay selected…",
    disabled=not picked,
    key="dlq.replay",
    help="Pick rows above first",
):
    confirm_replay(sorted(picked))
if discard_column.button(
    f"Discard {len(picked)} selected…" if picked else "Discard selected…",
    disabled=not picked,
    key="dlq.discard",
    help="Pick rows above first",
):
    confirm_discard(sorted(picked))
