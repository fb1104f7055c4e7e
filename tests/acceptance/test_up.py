"""`headway up` as `make run` starts it: engine, REST API, dashboard and the demo fleet, on a
SQLite file and free ports; the dashboard is restarted when it dies; a taken port is refused."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from engine.adapters.database import create_db_engine
from engine.adapters.tables import task_schedule, tasks
from engine.demo import demo_type_names
from tests.acceptance.faults import Headway, free_port, wait_for
from tests.acceptance.test_processes import headway

pytestmark = pytest.mark.acceptance

START_TIMEOUT_S = 90


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_up_serves_api_dashboard_and_a_demo_that_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'up.db'}"
    api_port, dashboard_port = free_port(), free_port()
    env = {
        "HEADWAY_DATABASE_URL": url,
        "HEADWAY_BROKER_URL": "memory://",
        "HEADWAY_API_PORT": str(api_port),
        "HEADWAY_DASHBOARD_PORT": str(dashboard_port),
    }
    assert headway("db", "upgrade", env=env).returncode == 0
    up = Headway(["up"], env, tmp_path, "up")
    dashboard_health = f"http://127.0.0.1:{dashboard_port}/_stcore/health"
    engine = create_db_engine(url)
    spawned: list[int] = []
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{api_port}/health"), START_TIMEOUT_S, "the API")
        wait_for(lambda: answers(dashboard_health), START_TIMEOUT_S, "the dashboard")
        log = up.log()
        assert f"REST API:  http://127.0.0.1:{api_port}/docs" in log
        assert f"Dashboard: http://127.0.0.1:{dashboard_port}" in log
        # A task of a default type, with no endpoint configured, succeeds in `headway up`.
        added = headway("task", "add", "--name", "hello", "--type", "reminder", "--now", env=env)
        assert added.returncode == 0, added.stderr

        def demo_succeeded() -> bool:
            with engine.connect() as connection:
                return bool(
                    connection.scalar(
                        select(func.count())
                        .select_from(task_schedule.join(tasks))
                        .where(task_schedule.c.status == "Succeeded")
                        .where(tasks.c.task_type.in_(demo_type_names(engine)))
                    )
                )

        def reminder_status() -> str | None:
            with engine.connect() as connection:
                return connection.scalar(
                    select(task_schedule.c.status)
                    .select_from(task_schedule.join(tasks))
                    .where(tasks.c.name == "hello")
                )

        wait_for(demo_succeeded, 60, "a demo run to succeed")
        wait_for(lambda: reminder_status() in ("Succeeded", "Failed", "Dead"), 60, "the reminder to finish")
        assert reminder_status() == "Succeeded"
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(tasks)) == 301

        # The dashboard dies: `headway up` starts it again.
        (first,) = children(up.pid)
        spawned.append(first)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: children(up.pid) not in ([], [first]), 30, "a new dashboard process")
        spawned.extend(children(up.pid))
        wait_for(lambda: answers(dashboard_health), START_TIMEOUT_S, "the dashboard again")
        assert up.alive()

        assert up.terminate(60) == 0, up.log()
        wait_for(
            lambda: not any(Path(f"/proc/{pid}").exists() for pid in spawned), 15, "the dashboard to stop"
        )
    finally:
        up.close()
        for pid in spawned:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        engine.dispose()


@pytest.mark.parametrize("taken", ["api", "dashboard"])
def test_up_exits_2_with_one_line_when_a_port_is_taken(taken: str, tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        ports = {"api": free_port(), "dashboard": free_port()} | {taken: port}
        env = {
            "HEADWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'up.db'}",
            "HEADWAY_API_PORT": str(ports["api"]),
            "HEADWAY_DASHBOARD_PORT": str(ports["dashboard"]),
        }
        result = headway("up", env=env)
    assert result.returncode == 2, result.stderr
    name = "API" if taken == "api" else "dashboard"
    assert result.stderr.startswith(f"error: {name} port {port} on 127.0.0.1 is not free")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "up.db").exists()  # refused before anything started
