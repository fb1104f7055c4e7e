"""Replay of dead-lettered tasks: the database row is the truth, the message its pointer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from engine.adapters.run_store import reset_dead_row
from engine.core.messages import MalformedMessage, decode_message
from engine.ports import Broker, DeadLetter


@dataclass
class ReplayReport:
    replayed: int = 0
    already_replayed: int = 0
    malformed: int = 0
    kept: int = 0


def replay_dead_letters(
    engine: Engine, broker: Broker, schedule_ids: set[int], limit: int, discard_malformed: bool = False
) -> ReplayReport:
    """For each dead letter (those of `schedule_ids` only, if given): reset its `Dead` row to
    `Scheduled` with a fresh retry budget and remove the message. The reset commits before
    the message is removed, so a crash in between leaves a message whose row is no longer
    `Dead`; replaying again removes it (`already_replayed`). Malformed messages stay unless
    `discard_malformed`."""
    report = ReplayReport()

    def visit(letter: DeadLetter) -> bool:
        try:
            message = decode_message(letter.body)
        except MalformedMessage:
            report.malformed += 1
            return discard_malformed
        if schedule_ids and message.schedule_id not in schedule_ids:
            report.kept += 1
            return False
        with engine.begin() as connection:
            reset = reset_dead_row(connection, message.schedule_id)
        if reset:
            report.replayed += 1
        else:
            report.already_replayed += 1
        return True

    broker.visit_dead_letters(visit, limit)
    return report
