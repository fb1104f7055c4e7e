"""`python -m simulation ...`: the `simulate` command on its own."""

import typer

from simulation.cli import simulate

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(simulate)

if __name__ == "__main__":
    app(prog_name="python -m simulation")
