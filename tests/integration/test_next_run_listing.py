"""A task's next run as listed (grid, API list, CLI): from its definition, not only from the
schedule rows materialised so far."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, update

from engine.adapters.tables import task_schedule
from engine.processes.scheduler import run_pass
from engine.services.tasks import get_task, list_tasks
from tests.integration.helpers import add_cron_task

# Late in a UTC day: the nightly job's only row today is at 23:30.
EVENING = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
END_OF_DAY = datetime(2026, 3, 2, 23, 45, tzinfo=UTC)


def test_a_nightly_task_past_its_days_last_row_lists_tomorrows_run(db_engine: Engine) -> None:
    nightly = add_cron_task(db_engine, EVENING, "30 23 * * *", name="nightly")
    run_pass(db_engine, EVENING, forecast_hours=1)
    with db_engine.begin() as connection:
        connection.execute(update(task_schedule).values(status="Succeeded"))

    [listed] = list_tasks(db_engine, now=END_OF_DAY).items

    assert listed.next_run == datetime(2026, 3, 3, 23, 30, tzinfo=UTC)
    assert get_task(db_engine, nightly.id, END_OF_DAY).next_run == listed.next_run


def test_a_row_nobody_started_is_the_next_run_and_lies_in_the_past(db_engine: Engine) -> None:
    add_cron_task(db_engine, EVENING, "30 23 * * *", name="nightly")
    run_pass(db_engine, EVENING, forecast_hours=1)

    [listed] = list_tasks(db_engine, now=END_OF_DAY).items

    assert listed.next_run == datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # overdue by 15 min
