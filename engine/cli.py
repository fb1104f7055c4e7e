"""The `headway` command. Each subcommand parses, wires adapters and calls the engine."""

from __future__ import annotations

import typer

from engine.commands import cron, db, demo, dlq, forecast, task, task_type
from engine.commands.api import api
from engine.commands.dashboard import dashboard
from engine.commands.distributor import distributor
from engine.commands.processor import processor
from engine.commands.scheduler import scheduler
from engine.commands.up import up
from simulation.calibrate_cli import calibrate
from simulation.cli import simulate

app = typer.Typer(
    help="Headway: a distributed task scheduler and capacity-planning workbench.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(cron.app, name="cron")
app.add_typer(task.app, name="task")
app.add_typer(task_type.app, name="task-type")
app.add_typer(dlq.app, name="dlq")
app.add_typer(demo.app, name="demo")
app.add_typer(forecast.app, name="forecast")
app.command("scheduler")(scheduler)
app.command("api")(api)
app.command("dashboard")(dashboard)
app.command("simulate")(simulate)
app.command("calibrate")(calibrate)
app.command("distributor")(distributor)
app.command("processor")(processor)
app.command("up")(up)

if __name__ == "__main__":
    app()
