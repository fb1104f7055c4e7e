"""Configuration, read from `HEADWAY_*` environment variables (pydantic-settings).

`Settings` is the one place that says what each setting defaults to and which values are
valid: the dashboard and the API read it whole (`Settings()`), and every `headway` option that
mirrors a setting hands its raw text to `Settings` for checking (`engine.commands.common`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "HEADWAY_"
DATABASE_URL_EXAMPLES = "postgresql://user@host:5432/headway or sqlite:///./headway.db"


def normalize_database_url(url: str) -> str:
    """Accept URLs as users paste them: `postgres://` and `postgresql://` both mean PostgreSQL
    through psycopg 3, the driver Headway ships with."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_database_url(url: str) -> str:
    """The normalised URL, or ValueError saying why Headway cannot use it: only PostgreSQL
    (through psycopg 3) and SQLite in a file are supported.

    Example: `check_database_url("postgres://u@db/headway") == "postgresql+psycopg://u@db/headway"`.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = normalize_database_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ValueError(f"not a database URL; expected {DATABASE_URL_EXAMPLES}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgresql":
        if driver != "psycopg":
            raise ValueError(
                f"Headway drives PostgreSQL with psycopg 3: write postgresql://, not {backend}+{driver}://"
            )
        return url
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ValueError(f"SQLite goes through Python's sqlite3: write sqlite:///path, not +{driver}")
        if parsed.database in (None, "", ":memory:"):
            raise ValueError(
                "SQLite needs a file, e.g. sqlite:///./headway.db (an in-memory database ends with "
                "the command)"
            )
        return url
    raise ValueError(
        f"Headway runs on PostgreSQL or SQLite, not {backend!r}; expected {DATABASE_URL_EXAMPLES}"
    )


class Settings(BaseSettings):
    # An empty variable counts as unset, as it does for the command-line options.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        extra="ignore",
        allow_inf_nan=False,
    )

    database_url: str = Field(
        "sqlite:///./headway.db", description="PostgreSQL or SQLite URL; postgres:// is accepted"
    )
    broker_url: str = Field(
        "memory://", description="amqp://user:pass@host:5672/vhost, or memory:// (in-process)"
    )
    capacity_ms: int = Field(10_000, gt=0, description="compute one instance can do per minute")
    buffer: float = Field(0.10, ge=0, lt=1, description="share of capacity kept free")
    forecast_hours: float = Field(3.0, gt=0, le=168, description="forecast horizon in hours")
    scheduler_interval_s: float = Field(60.0, ge=0.1, description="seconds between full passes")
    scheduler_window_hours: float | None = Field(
        None,
        gt=0,
        le=24 * 366,
        description="rolling window for large fleets: materialise only this far ahead "
        "instead of the end of the current UTC day",
    )
    dashboard_port: int = Field(8501, ge=1, le=65535, description="port of `headway dashboard`")
    dashboard_address: str = Field("127.0.0.1", description="interface `headway dashboard` listens on")

    api_host: str = Field("127.0.0.1", description="address `headway api` listens on")
    api_port: int = Field(8000, ge=0, le=65535, description="port `headway api` listens on")
    api_token: str | None = Field(
        None, description="when set, every API endpoint but /health needs `Authorization: Bearer <token>`"
    )

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        return check_database_url(value)

    @field_validator("forecast_hours")
    @classmethod
    def _at_least_a_minute(cls, value: float) -> float:
        if value * 60 < 1:
            raise ValueError("must cover at least one minute (0.0167 hours)")
        return value


def validate_setting(field: str, value: Any) -> Any:
    """`value` (the text of an option or a variable) converted and checked as the setting
    `field`, by the rules `Settings()` applies to it; `pydantic.ValidationError` if invalid.

    Example: `validate_setting("buffer", "0.25") == 0.25`; `validate_setting("buffer", "1.5")`
    raises ("Input should be less than 1").
    """
    settings = Settings.model_construct()
    # Validates this one field (constraints and validators) without reading the environment.
    Settings.__pydantic_validator__.validate_assignment(settings, field, value)
    return getattr(settings, field)


def default_setting(field: str) -> Any:
    """The value of `field` when neither its variable nor its option is given."""
    return validate_setting(field, Settings.model_fields[field].default)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
