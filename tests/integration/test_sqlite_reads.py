"""SQLite, the embedded default: readers never hold the write lock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from engine.adapters.database import read_connection
from engine.adapters.tables import tasks
from tests.integration.helpers import add_cron_task

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def test_a_write_goes_through_while_a_read_transaction_is_open(sqlite_engine: Engine) -> None:
    written = threading.Event()

    def writer() -> None:
        add_cron_task(sqlite_engine, NOW, "* * * * *")
        written.set()

    with read_connection(sqlite_engine) as reader:
        before = reader.execute(select(func.count()).select_from(tasks)).scalar_one()
        thread = threading.Thread(target=writer)
        thread.start()
        # With the write lock taken by the reader, the writer would wait for the busy timeout.
        assert written.wait(10), "the writer waited for a reader"
        # The reader's snapshot is stable for its transaction.
        assert reader.execute(select(func.count()).select_from(tasks)).scalar_one() == before
    thread.join(10)
    with read_connection(sqlite_engine) as reader:
        assert reader.execute(select(func.count()).select_from(tasks)).scalar_one() == before + 1


def test_writes_still_serialise_behind_each_other(sqlite_engine: Engine) -> None:
    threads = [
        threading.Thread(target=add_cron_task, args=(sqlite_engine, NOW, "*/5 * * * *")) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with read_connection(sqlite_engine) as reader:
        assert reader.execute(select(func.count()).select_from(tasks)).scalar_one() == 8
