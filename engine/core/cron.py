"""Cron expressions: validation and expansion to UTC instants. Pure: time is passed in.

Placeholder implementation on croniter; the public API below is the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter


class CronError(ValueError):
    """An expression or timezone that cannot be used; `field` is `cron_expression` or `timezone`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class CronSchedule:
    expression: str
    timezone: str = "UTC"


def validate_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise CronError("timezone", f"unknown timezone {name!r}") from error


def parse_schedule(expression: str, timezone: str = "UTC") -> CronSchedule:
    """Validate both parts; raise CronError naming the field and the problem."""
    validate_timezone(timezone)
    if not croniter.is_valid(expression):
        raise CronError("cron_expression", f"invalid cron expression {expression!r}")
    return CronSchedule(expression=expression, timezone=timezone)


def fire_times(schedule: CronSchedule, after: datetime, until: datetime) -> list[datetime]:
    """Every fire time t with after < t <= until, as aware UTC datetimes, ascending."""
    zone = validate_timezone(schedule.timezone)
    iterator = croniter(schedule.expression, after.astimezone(zone))
    result: list[datetime] = []
    while True:
        instant = iterator.get_next(datetime).astimezone(UTC)
        if instant > until:
            return result
        result.append(instant)


def next_fire_times(schedule: CronSchedule, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times strictly after `after`, as aware UTC datetimes."""
    zone = validate_timezone(schedule.timezone)
    iterator = croniter(schedule.expression, after.astimezone(zone))
    return [iterator.get_next(datetime).astimezone(UTC) for _ in range(count)]
