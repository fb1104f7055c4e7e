"""`headway dlq`: list, replay and discard dead-lettered tasks."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(help="The dead-letter queue.", no_args_is_help=True)

LimitOption = Annotated[int, typer.Option("--limit", min=1, max=100_000, help="Most messages to look at.")]


@app.command("list")
def list_(
    limit: LimitOption = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    discarded: Annotated[
        bool, typer.Option("--discarded", help="Show the discarded dead letters instead, latest first.")
    ] = False,
    queue: QueueOption = DEFAULT_QUEUE,
    queue_type: QueueTypeOption = DEFAULT_QUEUE_TYPE,
    broker_url: BrokerUrlOption = DEFAULT_BROKER_URL,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Show dead-lettered messages with their reason; nothing is removed.

    With memory:// (`headway up`), whose dead letters live inside that process, the `Dead`
    rows of the database are shown instead. Discarded ones have left the queue: --discarded
    reads them from the database."""
    from engine.core.messages import MalformedMessage, decode_message
    from engine.ports import BrokerUnavailable, DeadLetter

    if discarded:
        _show(_dead_rows(database_url, limit, discarded=True), as_json, "discarded dead letters")
        return
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
    _show(entries, as_json, "dead-lettered messages")


def _show(entries: list[dict[str, object]], as_json: bool, noun: str) -> None:
    for entry in entries:
        if as_json:
            typer.echo(json.dumps(entry))
        else:
            what = (
                f"row {entry['schedule_id']} {entry['task_type']} attempt {entry['attempt']}"
                if "schedule_id" in entry
                else f"malformed {entry['body']!r}"
            )
            when = entry.get("discarded_at", entry["dead_lettered_at"])
            typer.echo(f"{when}  {what}  {entry['reason']}")
    if not as_json:
        typer.echo(f"{len(entries)} {noun}")


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
    from engine.services.dead_letters import replay_dead_letters

    _require_selection(schedule_ids, replay_all, "replay")
    broker = open_broker(broker_url, queue, queue_type, allow_memory=True)
    engine = open_database(database_url)
    wanted = _wanted_rows(engine, broker_url, schedule_ids, replay_all, limit)
    if not wanted and replay_all and broker_url.startswith("memory://"):
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
    problems = []
    if report.discarded:
        problems.append(f"discarded, not replayed: row {', '.join(map(str, report.discarded))}")
    if report.not_dead:
        problems.append(f"not dead, nothing replayed: row {', '.join(map(str, report.not_dead))}")
    if problems:
        fail("; ".join(problems), code=1)


@app.command("discard")
def discard(
    schedule_ids: Annotated[
        list[int] | None, typer.Argument(help="Schedule row ids to discard (see `headway dlq list`).")
    ] = None,
    discard_all: Annotated[bool, typer.Option("--all", help="Discard every dead-lettered task.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    limit: LimitOption = 10_000,
    discard_malformed: Annotated[
        bool, typer.Option("--discard-malformed", help="Also remove messages that are not Headway tasks.")
    ] = False,
    queue: QueueOption = DEFAULT_QUEUE,
    queue_type: QueueTypeOption = DEFAULT_QUEUE_TYPE,
    broker_url: BrokerUrlOption = DEFAULT_BROKER_URL,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Give up on dead tasks: each `Dead` row is marked discarded (it stays as history, but is
    no longer listed nor replayable; `headway dlq list --discarded` shows it) and its message
    leaves the dead-letter queue.

    Name the rows, or pass --all. Asks first unless --yes. Exits 1 if a named row is not a
    dead letter."""
    from datetime import UTC, datetime

    from engine.ports import BrokerUnavailable
    from engine.services.dead_letters import discard_dead_letters

    _require_selection(schedule_ids, discard_all, "discard")
    what = "every dead letter" if discard_all else f"row {', '.join(map(str, schedule_ids or []))}"
    if not yes and not typer.confirm(f"Discard {what}? It cannot be replayed afterwards", default=False):
        fail("nothing discarded", code=1)
    broker = open_broker(broker_url, queue, queue_type, allow_memory=True)
    engine = open_database(database_url)
    wanted = _wanted_rows(engine, broker_url, schedule_ids, discard_all, limit)
    if not wanted and discard_all and broker_url.startswith("memory://"):
        typer.echo("0 discarded, 0 stale removed, 0 malformed kept, 0 kept")
        return
    try:
        report = discard_dead_letters(engine, broker, wanted, limit, datetime.now(UTC), discard_malformed)
    except BrokerUnavailable as error:
        fail(str(error), code=1)
    finally:
        engine.dispose()
        broker.close()
    typer.echo(
        f"{report.discarded} discarded, {report.stale} stale removed, "
        f"{report.malformed} malformed {'discarded' if discard_malformed else 'kept'}, {report.kept} kept"
    )
    if report.not_dead:
        fail(f"not a dead letter, nothing discarded: row {', '.join(map(str, report.not_dead))}", code=1)


def _require_selection(schedule_ids: list[int] | None, every: bool, verb: str) -> None:
    """Exit 2 unless exactly one of row ids and --all was given."""
    if bool(schedule_ids) == every:
        fail(
            f"name the rows to {verb} (ROW_ID ...) or pass --all, not both"
            if every
            else f"name the rows to {verb} (ROW_ID ...), or pass --all to {verb} every dead letter"
        )


def _wanted_rows(
    engine: Engine, broker_url: str, schedule_ids: list[int] | None, every: bool, limit: int
) -> set[int]:
    """The rows named, or with --all on memory:// (whose queue lives in `headway up`'s
    process) the `Dead` rows of the database; with --all on RabbitMQ the queue's messages say
    which rows (an empty set here)."""
    from engine.services.dead_letters import list_dead_rows

    if every and broker_url.startswith("memory://"):
        return {row.schedule_id for row in list_dead_rows(engine, limit)}
    return set(schedule_ids or [])


def _dead_rows(database_url: str, limit: int, discarded: bool = False) -> list[dict[str, object]]:
    """`headway dlq list` entries for the `Dead` rows of the database (the discarded ones)."""
    from engine.commands.common import database, format_instant
    from engine.services.dead_letters import list_dead_rows

    with database(database_url) as engine:
        rows = list_dead_rows(engine, limit, discarded=discarded)
    entries: list[dict[str, object]] = []
    for row in rows:
        entry: dict[str, object] = {
            "reason": row.reason,
            "dead_lettered_at": format_instant(row.finished_at) if row.finished_at else None,
            "schedule_id": row.schedule_id,
            "task_type": row.task_type,
            "attempt": row.attempt,
        }
        if discarded and row.discarded_at is not None:
            entry["discarded_at"] = format_instant(row.discarded_at)
        entries.append(entry)
    return entries
