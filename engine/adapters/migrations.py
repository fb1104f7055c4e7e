"""Schema migrations (Alembic, configured in code) and the start-up schema check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class SchemaOutdated(RuntimeError):
    """The database is not at the schema this code needs; `headway db upgrade` fixes it."""


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config_without_engine())
    head = script.get_current_head()
    assert head is not None
    return head


def alembic_config_without_engine() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to `revision`; SchemaOutdated if a newer Headway already migrated further."""
    _refuse_newer(current_revision(engine))
    command.upgrade(alembic_config(engine), revision)


def ensure_schema_current(engine: Engine) -> None:
    """Raise SchemaOutdated unless the database is at the newest revision this code knows.

    An older schema (or none) is fixed by `headway db upgrade`; a revision this code does not
    know means the database was migrated by a newer Headway, which upgrading cannot undo.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    _refuse_newer(current)
    found = current or "no Headway schema"
    raise SchemaOutdated(
        f"database schema is at {found}, this Headway needs {head}: run `headway db upgrade` first"
    )


def _refuse_newer(current: str | None) -> None:
    script = ScriptDirectory.from_config(alembic_config_without_engine())
    if current is None or any(known.revision == current for known in script.walk_revisions()):
        return
    raise SchemaOutdated(
        f"database schema is at {current}, which this Headway (schema {head_revision()}) does not "
        "know: a newer Headway migrated it; run that version"
    )
