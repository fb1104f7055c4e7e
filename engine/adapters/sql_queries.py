"""The named queries of `sql/<dialect>/queries.sql`, for the adapters that run them.

A block starts with a line `-- name: NAME` and runs to the next one; its comment lines are
left out (a `:word` in a comment would otherwise read as a bind parameter).
"""

from __future__ import annotations

from functools import cache

from engine.migrations.sql_files import sql_dir

_MARKER = "-- name:"


def parse_named_queries(script: str) -> dict[str, str]:
    """Each block's SQL by name, comments and the final semicolon removed."""
    blocks: dict[str, list[str]] = {}
    lines: list[str] = []  # before the first name: the file's header, dropped
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith(_MARKER):
            name = stripped.removeprefix(_MARKER).strip()
            if name in blocks:
                raise ValueError(f"query {name!r} is defined twice")
            lines = blocks[name] = []
        elif not stripped.startswith("--"):
            lines.append(line)
    return {name: "\n".join(block).strip().rstrip(";").strip() for name, block in blocks.items()}


@cache
def named_query(dialect: str, name: str) -> str:
    """The SQL of query `name` for `dialect` ("postgresql" or "sqlite")."""
    queries = parse_named_queries((sql_dir() / dialect / "queries.sql").read_text())
    try:
        return queries[name]
    except KeyError:
        raise KeyError(f"no query {name!r} in sql/{dialect}/queries.sql") from None
