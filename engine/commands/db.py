"""`headway db`: schema migrations."""

from __future__ import annotations

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    BufferOption,
    CapacityOption,
    DatabaseUrlOption,
    fail,
    open_database,
)

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
) -> None:
    """Apply all pending migrations and record the scaling parameters."""
    from sqlalchemy.exc import SQLAlchemyError

    from engine.adapters.database import store_scaling_parameters
    from engine.adapters.migrations import current_revision
    from engine.adapters.migrations import upgrade as run_upgrade

    engine = open_database(database_url, check_schema=False)
    try:
        run_upgrade(engine)
        with engine.begin() as connection:
            store_scaling_parameters(connection, capacity_ms, buffer)
        typer.echo(f"database at revision {current_revision(engine)}")
    except SQLAlchemyError as error:
        fail(f"upgrade failed: {error}", code=1)


@app.command("current")
def current(database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL) -> None:
    """Print the database's schema revision."""
    from engine.adapters.migrations import current_revision, head_revision

    engine = open_database(database_url, check_schema=False)
    typer.echo(f"{current_revision(engine) or 'empty'} (head {head_revision()})")
