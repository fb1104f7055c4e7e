"""Alembic environment: the engine comes from the caller (`headway db upgrade`)."""

from __future__ import annotations

from alembic import context

from engine.adapters.database import create_db_engine
from engine.settings import get_settings

engine = context.config.attributes.get("engine") or create_db_engine(get_settings().database_url)

with engine.connect() as connection:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
