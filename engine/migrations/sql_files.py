"""Run the dialect's SQL files from `sql/` inside a migration, and widen a SQLite table's
constraints in place."""

from __future__ import annotations

from pathlib import Path

from alembic import op
from sqlalchemy import text

_CANDIDATE_DIRS = (
    Path(__file__).resolve().parents[2] / "sql",  # source checkout / editable install
    Path(__file__).resolve().parents[1] / "_sql",  # wheel: sql/ is packaged as engine/_sql
)


def sql_dir() -> Path:
    for candidate in _CANDIDATE_DIRS:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("Headway's sql/ directory was not found")


def split_statements(script: str) -> list[str]:
    """Split on semicolons that end a statement, leaving dollar-quoted bodies whole."""
    statements, current, in_dollar = [], [], False
    for line in script.splitlines():
        if line.strip().startswith("--") and not in_dollar:
            continue
        current.append(line)
        in_dollar ^= line.count("$$") % 2 == 1
        if not in_dollar and line.rstrip().endswith(";"):
            statement = "\n".join(current).strip().rstrip(";").strip()
            if statement:
                statements.append(statement)
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return statements


def run_sql_file(name: str) -> None:
    connection = op.get_bind()
    path = sql_dir() / connection.dialect.name / name
    for statement in split_statements(path.read_text()):
        # Driver-level execution: the SQL is run as written, with no bind-parameter parsing.
        connection.exec_driver_sql(statement)


def rewrite_sqlite_table_sql(table: str, old: str, new: str) -> None:
    """Replace `old` with `new` in SQLite's stored CREATE statement of `table`.

    SQLite's documented way to change a constraint that no stored row breaks
    (sqlite.org/lang_altertable.html, "making other kinds of table schema changes"): rewrite
    the table's CREATE statement, then bump schema_version so every connection reads it
    again. Only for a change that leaves every existing row valid, such as a wider CHECK."""
    connection = op.get_bind()
    version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    connection.execute(
        text(
            "UPDATE sqlite_master SET sql = replace(sql, :old, :new) "
            "WHERE type = 'table' AND name = :table"
        ),
        {"old": old, "new": new, "table": table},
    )
    connection.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    connection.exec_driver_sql("PRAGMA writable_schema = OFF")
