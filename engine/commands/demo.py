"""`headway demo`: add or remove the demo fleet that `headway up` adds to an empty database."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.commands.common import DEFAULT_DATABASE_URL, DatabaseUrlOption, database, utc_now

app = typer.Typer(help="The demo fleet: a few hundred tasks run against `headway up`'s echo endpoint.")


@app.command("add")
def add(
    count: Annotated[int, typer.Option("--count", min=1, max=10_000, help="How many demo tasks.")] = 300,
    database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL,
) -> None:
    """Add the demo task types and COUNT demo tasks (cron in several zones, one-offs,
    immediates). They run in `headway up`, whose `echo` handler serves them."""
    from engine.demo import add_demo

    with database(database_url) as engine:
        added = add_demo(engine, utc_now(), count)
    typer.echo(f"added {added} demo tasks; remove them with `headway demo remove`")


@app.command("remove")
def remove(database_url: DatabaseUrlOption = DEFAULT_DATABASE_URL) -> None:
    """Delete every demo task (with its schedule rows and runs) and the demo task types."""
    from engine.demo import remove_demo

    with database(database_url) as engine:
        removed = remove_demo(engine)
    typer.echo(f"removed {removed.tasks} demo tasks and {removed.types} demo task types")
    typer.echo(
        "(`headway up` adds the demo again to a database without tasks; --no-demo or HEADWAY_DEMO=false)"
    )
