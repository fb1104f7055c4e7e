"""Instants typed on the command line: absolute ISO-8601 and spans from an injected now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.core.instants import MAX_RELATIVE, InstantError, parse_instant_text

NOW = datetime(2026, 3, 29, 0, 59, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+45s", NOW + timedelta(seconds=45)),
        ("+90m", NOW + timedelta(minutes=90)),
        ("+2h", NOW + timedelta(hours=2)),
        ("+ 2H", NOW + timedelta(hours=2)),
        ("+7d", NOW + timedelta(days=7)),
        ("2026-01-01T09:00:00Z", datetime(2026, 1, 1, 9, tzinfo=UTC)),
        ("2026-01-01T09:00:00+09:00", datetime(2026, 1, 1, 0, tzinfo=UTC)),
    ],
)
def test_absolute_and_relative_instants(text: str, expected: datetime) -> None:
    assert parse_instant_text(text, NOW) == expected


def test_a_span_counts_from_now_in_any_zone() -> None:
    now = NOW.astimezone(timezone(timedelta(hours=-5)))
    parsed = parse_instant_text("+1h", now)
    assert parsed == NOW + timedelta(hours=1) and parsed.tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tomorrow", "is not an ISO-8601 instant or a span from now"),
        ("+2w", "is not an ISO-8601 instant or a span from now"),
        ("-2h", "is not an ISO-8601 instant or a span from now"),
        ("2026-01-01T09:00:00", "has no offset"),
        ("0001-01-01T00:00:00+01:00", "outside the years 1 to 9999"),
        (f"+{MAX_RELATIVE.days + 1}d", "days ahead"),
    ],
)
def test_bad_instants_say_why(text: str, problem: str) -> None:
    with pytest.raises(InstantError, match=problem):
        parse_instant_text(text, NOW)
