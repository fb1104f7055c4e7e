"""Configuration, read from `HEADWAY_*` environment variables (pydantic-settings).

`Settings` is the one place that says what each setting defaults to and which values are
valid: the dashboard and the API read it whole (`Settings()`), and every `headway` option that
mirrors a setting hands its raw text to `Settings` for checking (`engine.commands.common`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

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


def check_broker_url(url: str) -> str:
    """`url` stripped, or ValueError saying why it is no broker URL: `amqp://` or `amqps://`
    (RabbitMQ), or `memory://` (in-process).

    Example: `check_broker_url("amqp://guest:guest@127.0.0.1:5672/%2F")` passes;
    `check_broker_url("amqp://h:99999/")` raises ("port ... is not a number from 0 to 65535").
    """
    from urllib.parse import urlsplit

    url = url.strip()
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "memory":
        return url
    if scheme not in ("amqp", "amqps"):
        raise ValueError("expected amqp://user:pass@host:5672/vhost, amqps://... or memory://")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as error:
        raise ValueError(f"not a valid amqp URL ({error})") from None
    if not parts.hostname:
        raise ValueError("the amqp URL names no host")
    return url


def check_queue_name(name: str) -> str:
    """A base name for the broker's queues (`NAME`, `NAME.retry.<ms>`, `NAME.dlq`): not empty,
    no white space, not in RabbitMQ's reserved `amq.` namespace, short enough that the derived
    names stay under RabbitMQ's 255-byte limit."""
    if not name:
        raise ValueError("must not be empty")
    if any(character.isspace() for character in name):
        raise ValueError("must not contain white space")
    if name.startswith("amq."):
        raise ValueError("names starting with amq. are reserved by RabbitMQ")
    if len(name.encode()) > 200:
        raise ValueError("must be at most 200 bytes")
    return name


def check_endpoint_url(url: str) -> str:
    """An http:// or https:// URL with a host, for the reminder and notification handlers."""
    from urllib.parse import urlsplit

    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as error:
        raise ValueError(f"not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL with a host")
    return url


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
    retention_days: int = Field(
        30,
        ge=1,
        le=36_500,
        description="finished schedule rows and their runs older than this many days are pruned "
        "(their statistics stay in the daily rollups)",
    )
    dashboard: bool = Field(True, description="`headway up` also serves the dashboard")
    demo: bool = Field(True, description="`headway up` adds the demo fleet to an empty database")
    dashboard_port: int = Field(8501, ge=1, le=65535, description="port of `headway dashboard`")
    dashboard_address: str = Field("127.0.0.1", description="interface `headway dashboard` listens on")
    dashboard_insecure_no_auth: bool = Field(
        False, description="serve the dashboard beyond loopback without asking for the API token"
    )

    api_host: str = Field("127.0.0.1", description="address `headway api` listens on")
    api_port: int = Field(8000, ge=0, le=65535, description="port `headway api` listens on")
    api_token: str | None = Field(
        None, description="when set, every API endpoint but /health needs `Authorization: Bearer <token>`"
    )

    queue: str = Field("headway", description="base name of the broker's queues")
    queue_type: Literal["quorum", "classic"] = Field("quorum", description="RabbitMQ queue type")
    distributor_batch_size: int = Field(1_000, ge=1, le=10_000, description="rows claimed per batch")
    distributor_poll_interval_s: float = Field(
        0.5, ge=0.01, le=1.0, description="longest wait between looks for due rows"
    )
    distributor_lease_s: float = Field(30.0, ge=1, description="how long a distributor's claim holds")
    reconcile_interval_s: float = Field(
        10.0, ge=0.1, le=3_600, description="how often a distributor looks for rows that stopped moving"
    )
    reconcile_queued_after_s: float = Field(
        600.0, ge=1, description="a published row not started after this long is published again"
    )
    processor_concurrency: int = Field(4, ge=1, le=1_000, description="tasks one processor runs at once")
    processor_prefetch: int = Field(1, ge=1, le=1_000, description="unacknowledged messages per worker")
    processor_lease_s: float = Field(30.0, ge=1, description="lease on a Running row")
    processor_heartbeat_s: float = Field(5.0, ge=0.1, description="seconds between heartbeats")
    retry_base_ms: int = Field(1_000, ge=0, description="backoff before the second attempt")
    retry_max_ms: int = Field(300_000, ge=0, description="longest backoff")
    shutdown_grace_s: float | None = Field(None, ge=0, description="on SIGTERM, how long tasks may finish")
    outbound_allow: str = Field("", description="hosts or CIDRs task HTTP calls may reach although internal")
    reminder_url: str | None = Field(None, description="endpoint of the reminder handler")
    notification_url: str | None = Field(None, description="endpoint of the notification handler")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="log level of the processes"
    )

    scaling_lead_minutes: int = Field(
        15, ge=0, le=1440, description="minutes ahead /scaling/processors covers by default (boot time)"
    )
    scaling_cooldown_minutes: int = Field(
        5, ge=0, le=1440, description="minutes /scaling/processors keeps processors after the need drops"
    )
    health_address: str = Field("127.0.0.1", description="interface of the processes' health endpoints")
    scheduler_health_port: int | None = Field(
        None, ge=0, le=65535, description="port of `headway scheduler`'s /livez and /readyz (unset: none)"
    )
    distributor_health_port: int | None = Field(
        None, ge=0, le=65535, description="port of `headway distributor`'s /livez and /readyz (unset: none)"
    )
    processor_health_port: int | None = Field(
        None, ge=0, le=65535, description="port of `headway processor`'s /livez and /readyz (unset: none)"
    )
    health_stall_s: float = Field(
        120.0, ge=1, le=3600, description="a loop without progress for this long is not ready (nor live)"
    )

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str) -> str:
        return check_broker_url(value)

    @field_validator("queue")
    @classmethod
    def _check_queue(cls, value: str) -> str:
        return check_queue_name(value)

    @field_validator("outbound_allow")
    @classmethod
    def _check_outbound_allow(cls, value: str) -> str:
        from engine.core.outbound import parse_allowlist

        parse_allowlist(value)
        return value

    @field_validator("reminder_url", "notification_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        return None if value is None else check_endpoint_url(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

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
