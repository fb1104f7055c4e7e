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
) -> None:
    """Show dead-lettered messages with their reason; nothing is removed."""
    from engine.core.messages import MalformedMessage, decode_message
    from engine.ports import BrokerUnavailable, DeadLetter

    broker = open_broker(broker_url, queue, queue_type)
    entries: list[dict[str, object]] = []

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
        list[int] | None, typer.Argument(help="Schedule row ids to replay (default: every valid message).")
    ] = None,
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
    message whose row is no longer `Dead` (replayed already) is removed too."""
    from engine.ports import BrokerUnavailable
    from engine.services.dead_letters import replay_dead_letters

    engine = open_database(database_url)
    broker = open_broker(broker_url, queue, queue_type)
    try:
        report = replay_dead_letters(engine, broker, set(schedule_ids or []), limit, discard_malformed)
    except BrokerUnavailable as error:
        fail(str(error), code=1)
    typer.echo(
        f"{report.replayed} replayed, {report.already_replayed} already replayed, "
        f"{report.malformed} malformed {'discarded' if discard_malformed else 'kept'}, {report.kept} kept"
    )
