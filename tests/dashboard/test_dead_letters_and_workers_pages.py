"""Dead letters (replay and discard ask first, then change the rows) and Workers pages."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, insert, select

from engine.adapters.tables import task_schedule
from tests.dashboard.conftest import NOW, OpenDashboard, texts
from tests.dashboard.test_capacity_and_metrics_pages import add_heartbeat, metric
from tests.integration.helpers import add_cron_task


def test_replay_asks_first_then_gives_the_rows_fresh_attempts(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine
) -> None:
    task = add_cron_task(sqlite_engine, NOW, "0 0 1 1 *")
    with sqlite_engine.begin() as connection:
        ids = [
            connection.execute(
                insert(task_schedule)
                .values(
                    task_id=task.id,
                    scheduled_time=NOW - timedelta(hours=hours),
                    status="Dead",
                    attempt=3,
                    finished_at=NOW - timedelta(hours=hours),
                    last_error="HTTP 500",
                )
                .returning(task_schedule.c.id)
            ).scalar_one()
            for hours in (2, 1)
        ]
    app = open_dashboard(sqlite_url, "dead_letters")
    assert list(app.dataframe[0].value["row"]) == ids
    assert list(app.dataframe[0].value["reason"]) == ["HTTP 500", "HTTP 500"]
    app.multiselect(key="dlq.picked").set_value([ids[0]]).run()
    app.button(key="dlq.replay").click().run()
    assert any(f"Rows **{ids[0]}**" in text for text in texts(app, "markdown"))

    def statuses() -> list[str]:
        with sqlite_engine.connect() as connection:
            return list(
                connection.execute(select(task_schedule.c.status).order_by(task_schedule.c.id)).scalars()
            )

    assert statuses() == ["Dead", "Dead"]  # nothing until confirmed
    app.button(key="dlq.replay.confirm").click().run()
    assert texts(app, "success") == ["Replayed 1 dead letters."]
    assert statuses() == ["Scheduled", "Dead"]
    assert list(app.dataframe[0].value["row"]) == [ids[1]]


def test_discard_asks_first_then_hides_the_row_which_stays_dead(
    open_dashboard: OpenDashboard, sqlite_url: str, sqlite_engine: Engine
) -> None:
    task = add_cron_task(sqlite_engine, NOW, "0 0 1 1 *")
    with sqlite_engine.begin() as connection:
        ids = [
            connection.execute(
                insert(task_schedule)
                .values(
                    task_id=task.id,
                    scheduled_time=NOW - timedelta(hours=hours),
                    status="Dead",
                    attempt=3,
                    finished_at=NOW - timedelta(hours=hours),
                    last_error="HTTP 500",
                )
                .returning(task_schedule.c.id)
            ).scalar_one()
            for hours in (2, 1)
        ]
    app = open_dashboard(sqlite_url, "dead_letters")
    app.multiselect(key="dlq.picked").set_value([ids[1]]).run()
    app.button(key="dlq.discard").click().run()
    assert any(f"Rows **{ids[1]}** will not run again" in text for text in texts(app, "markdown"))

    def rows() -> list[tuple[str, bool]]:
        query = select(task_schedule.c.status, task_schedule.c.discarded_at).order_by(task_schedule.c.id)
        with sqlite_engine.connect() as connection:
            return [(status, at is not None) for status, at in connection.execute(query)]

    assert rows() == [("Dead", False), ("Dead", False)]  # nothing until confirmed
    app.button(key="dlq.discard.confirm").click().run()
    assert texts(app, "success") == ["Discarded 1 dead letters."]
    assert rows() == [("Dead", False), ("Dead", True)]
    assert list(app.dataframe[0].value["row"]) == [ids[0]]
    app.toggle(key="dlq.show_discarded").set_value(True).run()
    shown = app.dataframe[0].value
    assert list(shown["row"]) == [ids[1]] and list(shown["discarded"]) != [""]


def test_workers_page_lists_live_processors(
    open_dashboard: OpenDashboard, db_url: str, db_engine: Engine
) -> None:
    add_heartbeat(db_engine, "p-4", NOW - timedelta(seconds=4), concurrency=4)
    add_heartbeat(db_engine, "gone", NOW - timedelta(minutes=4), concurrency=2)
    app = open_dashboard(db_url, "workers")
    assert metric(app, "Live processors") == ("1", None)
    assert metric(app, "Worker slots") == ("4", None)
    [processors] = [frame.value for frame in app.dataframe]
    assert processors.to_dict("records")[0] | {"up since": ""} == {
        "host": "test",
        "pid": 1,
        "concurrency": 4,
        "running now": 0,
        "last heartbeat": "4 s ago",
        "up since": "",
        "processor": "p-4",
    }
    assert any("No attempt finished in the last hour" in text for text in texts(app, "caption"))
