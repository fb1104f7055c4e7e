"""Configuration, read from `HEADWAY_*` environment variables (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def normalize_database_url(url: str) -> str:
    """Accept URLs as users paste them: `postgres://` and `postgresql://` both mean PostgreSQL
    through psycopg 3, the driver Headway ships with."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEADWAY_", extra="ignore")

    database_url: str = Field("sqlite:///./headway.db", description="SQLAlchemy URL; postgres:// is accepted")
    broker_url: str = Field(
        "memory://", description="amqp://user:pass@host:5672/vhost, or memory:// (in-process)"
    )
    capacity_ms: int = Field(10_000, gt=0, description="compute one instance takes per minute")
    buffer: float = Field(0.10, ge=0, lt=1, description="share of capacity kept free")
    forecast_hours: float = Field(3.0, gt=0, le=168, description="forecast horizon in hours")
    scheduler_interval_s: float = Field(60.0, gt=0, description="seconds between passes")
    scheduler_window_hours: float | None = Field(
        None,
        gt=0,
        description="rolling window for large fleets: materialise only this far ahead "
        "instead of the end of the current UTC day",
    )

    api_host: str = Field("127.0.0.1", description="address `headway api` listens on")
    api_port: int = Field(8000, ge=0, le=65535, description="port `headway api` listens on")
    api_token: str | None = Field(
        None, description="when set, every API endpoint but /health needs `Authorization: Bearer <token>`"
    )

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, value: str) -> str:
        return normalize_database_url(value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
