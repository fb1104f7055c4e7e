"""Is the database answering? A `SELECT 1`, for `/health` and the processes' `/readyz`."""

from __future__ import annotations

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from engine.adapters.database import read_connection


def check_database(engine: Engine) -> str | None:
    """None when `engine` runs `SELECT 1`, else a short reason: the driver's exception class
    name only, since its message can carry host and user names."""
    try:
        with read_connection(engine) as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        return type(getattr(error, "orig", None) or error).__name__
    return None
