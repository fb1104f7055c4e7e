"""Instants as users type them: ISO-8601 with an offset, or a span from now (`+2h`).

Pure: the caller passes `now`, so a relative instant is exact and testable."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^\+\s*(\d+)\s*(s|m|h|d)$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
# A span beyond this is a typo rather than a plan (and keeps the sum inside datetime's range).
MAX_RELATIVE = timedelta(days=3_660)


class InstantError(ValueError):
    """The text is no instant; the message says why and shows a form that works."""


def parse_instant_text(text: str, now: datetime) -> datetime:
    """The UTC instant `text` names: `2026-01-01T09:00:00Z`, `...+02:00`, or `+N` followed by
    `s`, `m`, `h` or `d`, counted from `now`. A naive ISO value is refused rather than guessed.

    Example: `parse_instant_text("+90m", datetime(2026, 1, 1, 9, tzinfo=UTC))` is
    `datetime(2026, 1, 1, 10, 30, tzinfo=UTC)`.
    """
    stripped = text.strip()
    relative = _RELATIVE.match(stripped)
    if relative is not None:
        span = timedelta(seconds=int(relative.group(1)) * _UNIT_SECONDS[relative.group(2).lower()])
        if span > MAX_RELATIVE:
            raise InstantError(f"{text!r} is more than {MAX_RELATIVE.days} days ahead")
        return now.astimezone(UTC) + span
    try:
        instant = datetime.fromisoformat(stripped.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InstantError(
            f"{text!r} is not an ISO-8601 instant or a span from now (e.g. 2026-01-01T09:00:00Z or +2h)"
        ) from None
    if instant.tzinfo is None:
        raise InstantError(f"{text!r} has no offset; add Z or +HH:MM")
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise InstantError(f"{text!r} is outside the years 1 to 9999 in UTC") from None
