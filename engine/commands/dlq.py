"""`headway dlq`: list and replay dead-lettered tasks."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from engine.commands.common import (
    DEFAULT_BROKER_URL,
    DEFAULT_DATABASE_URL,
    DEFAULT_QUEUE,
    DEFAULT_QUEUE_TYPE,
    BrokerUrlOption,
    DatabaseUrlOption,
    QueueOption,
    QueueTypeOption,
    fail,
    open_broker,
    open_database,
)

app = typer.Typer(help="The dead-letter queue.", no_args_is_help=True)

LimitOption = Annotated[int, typer.Option("--limit", min=1, max=100_000, help="Most messages to look at.")]


@app.command("list")
def list_(
    limit: LimitOption = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    queue: QueueOption = DEFAULT_QUEUE,
    queue_type: QueueTypeOption = DEFAULT_QUEUE_TYPE,
    broker_url: BrokerUrlOption = DEFAULT_BROKER_URL,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Show dead-lettered messages with their reason; nothing is removed.

    With memory:// (`headway up`), whose dead letters live inside that process, the `Dead`
    rows of the database are shown instead."""
    from engine.core.messages import MalformedMessage, decode_message
    from engine.ports import BrokerUnavailable, DeadLetter

    broker = open_broker(broker_url, queue, queue_type, allow_memory=True)
    entries: list[dict[str, object]] = []
    if broker_url.startswith("memory://"):
        entries = _dead_rows(database_url, limit)

    def show(letter: DeadLetter) -> bool:
        entry: dict[str, object] = {"reason": letter.reason, "dead_lettered_at": letter.dead_lettered_at}
        try:
            message = decode_message(letter.body)
            entry |= {
                "schedule_id": message.schedule_id,
                "task_type": message.task_type,
                "attempt": message.attempt,
            }
        except MalformedMessage:
            entry["body"] = letter.body.decode(errors="replace")[:200]
        entries.append(entry)
        return False

    try:
        broker.visit_dead_letters(show, limit)
    except BrokerUnavailable as error:
        fail(str(error), code=1)
    finally:
        broker.close()
    for entry in entries:
        if as_json:
            typer.echo(json.dumps(entry))
        else:
            what = (
                f"row {entry['schedule_id']} {entry['task_type']} attempt {entry['attempt']}"
                if "schedule_id" in entry
                else f"malformed {entry['body']!r}"
            )
            typer.echo(f"{entry['dead_lettered_at']}  {what}  {entry['reason']}")
    if not as_json:
        typer.echo(f"{len(entries)} dead-lettered messages")


@app.command("replay")
def replay(
    schedule_ids: Annotated[
        list[int] | None, typer.Argument(help="Schedule row ids to replay (see `headway dlq list`).")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead-lettered task.")] = False,
    limit: LimitOption = 10_000,
    discard_malformed: Annotated[
        bool, typer.Option("--discard-malformed", help="Also remove messages that cannot be replayed.")
    ] = False,
    queue: QueueOption = DEFAULT_QUEUE,
    queue_type: QueueTypeOption = DEFAULT_QUEUE_TYPE,
    broker_url: BrokerUrlOption = DEFAULT_BROKER_URL,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Give dead tasks a fresh set of attempts: each `Dead` row goes back to `Scheduled` (the
    distributor publishes it at once) and its message leaves the dead-letter queue. A
    message whose row is no longer `Dead` (replayed already) is removed too.

    Name the rows, or pass --all. Exits 1 if a named row is not `Dead`. With memory://
    (`headway up`) the `Dead` rows of the database are replayed; the running `headway up`
    picks them up."""
    from engine.ports import BrokerUnavailable
    from engine.services.dead_letters import list_dead_rows, replay_dead_letters

    if bool(schedule_ids) == replay_all:
        fail(
            "name the rows to replay (ROW_ID ...) or pass --all, not both"
            if replay_all
            else "name the rows to replay (ROW_ID ...), or pass --all to replay every dead letter"
        )
    broker = open_broker(broker_url, queue, queue_type, allow_memory=True)
    engine = open_database(database_url)
    wanted = set(schedule_ids or [])
    if replay_all and broker_url.startswith("memory://"):
        wanted = {row.schedule_id for row in list_dead_rows(engine, limit)}
        if not wanted:
            typer.echo("0 replayed, 0 already replayed, 0 malformed kept, 0 kept")
            return
    try:
        report = replay_dead_letters(engine, broker, wanted, limit, discard_malformed)
    except BrokerUnavailable as error:
        fail(str(error), code=1)
    finally:
        engine.dispose()
        broker.close()
    typer.echo(
        f"{report.replayed} replayed, {report.already_replayed} already replayed, "
        f"{report.malformed} malformed {'discarded' if discard_malformed else 'kept'}, {report.kept} kept"
    )
    if report.not_dead:
        fail(f"not dead, nothing replayed: row {', '.join(map(str, report.not_dead))}", code=1)


def _dead_rows(database_url: str, limit: int) -> list[dict[str, object]]:
    """`headway dlq list` entries for the `Dead` rows of the database."""
    from engine.commands.common import database, format_instant
    from engine.services.dead_letters import list_dead_rows

    with database(database_url) as engine:
        rows = list_dead_rows(engine, limit)
    return [
        {
            "reason": row.reason,
            "dead_lettered_at": format_instant(row.finished_at) if row.finished_at else None,
            "schedule_id": row.schedule_id,
            "task_type": row.task_type,
            "attempt": row.attempt,
        }
        for row in rows
    ]
