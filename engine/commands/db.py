"""`headway db`: schema migrations."""

from __future__ import annotations

import typer

from engine.commands.common import (
    DEFAULT_DATABASE_URL,
    BufferOption,
    CapacityOption,
    DatabaseUrlOption,
    database,
    fail,
)

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
    capacity_ms: CapacityOption = 10_000,
    buffer: BufferOption = 0.10,
) -> None:
    """Apply all pending migrations and record the scaling parameters."""
    from alembic.util.exc import CommandError

    from engine.adapters.database import store_scaling_parameters
    from engine.adapters.migrations import SchemaOutdated, current_revision
    from engine.adapters.migrations import upgrade as run_upgrade

    with database(database_url, check_schema=False) as engine:
        try:
            run_upgrade(engine)
        except (SchemaOutdated, CommandError) as error:
            fail(f"upgrade failed: {error}", code=1)
        with engine.begin() as connection:
            store_scaling_parameters(connection, capacity_ms, buffer)
        typer.echo(f"database at revision {current_revision(engine)}")


@app.command("current")
def current(database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL) -> None:
    """Print the database's schema revision."""
    from engine.adapters.migrations import current_revision, head_revision

    with database(database_url, check_schema=False) as engine:
        typer.echo(f"{current_revision(engine) or 'empty'} (head {head_revision()})")
