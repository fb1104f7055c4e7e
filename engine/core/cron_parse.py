"""Cron expressions: syntax, compilation to a `CronSpec`, and the calendar maths of day fields.

Pure: no clock, no I/O. `compile_expression` is the only entry point; `engine.core.cron` turns
a compiled spec into UTC instants. The accepted syntax is documented in `docs/cron.md`.

Example: `compile_expression("*/20 9-10 * * mon-fri")` has minutes `(0, 20, 40)`, hours
`(9, 10)`, and `month_day_mask(spec, 2026, 3)` has a bit for every weekday of March 2026.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

MAX_EXPRESSION_LENGTH = 256

MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
WEEKDAY_NAMES = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week")
# Inclusive bounds of each field. Day-of-week accepts 7 as a second Sunday, but `*` and `a/n`
# stop at 6 so that no step lands on Sunday twice.
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES: tuple[dict[str, int], ...] = ({}, {}, {}, MONTH_NAMES, WEEKDAY_NAMES)
_ITEM = re.compile(r"(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?", re.IGNORECASE)
# Spelled out rather than taken from `calendar.month_name`, which follows the host's locale.
_MONTH_TITLES = (
    "", "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


class CronError(ValueError):
    """An expression or timezone that cannot be used; `field` is `cron_expression` or `timezone`.

    `message` says what is wrong in words a user can act on, e.g.
    `CronError("cron_expression", "minute field: 61 is out of range 0-59")`.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[CronError], tuple[str, str]]:
        # Exceptions pickle as `cls(*args)`; args holds only the message, so say both parts.
        return CronError, (self.field, self.message)


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A compiled expression. Day sets are bit masks: bit d stands for day d of the month.

    `dom_star`/`dow_star` are true when that field starts with `*` (or is `?`); as in Vixie
    cron a day then has to match both day fields, otherwise either one suffices.
    `hour_star` (hour field starts with `*`) selects the wildcard DST policy in `cron.py`.
    `day_offsets` are the fire times within a local day, ascending: minutes x hours.
    """

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    month_mask: int
    dom_mask: int
    dom_last: bool
    dom_last_weekday: bool
    dom_nearest_weekday: tuple[int, ...]
    dow_masks: tuple[int, ...]
    dow_nth: tuple[tuple[int, int], ...]
    dow_last: tuple[int, ...]
    dom_star: bool
    dow_star: bool
    hour_star: bool
    day_offsets: tuple[timedelta, ...]


def _fail(message: str) -> CronError:
    return CronError("cron_expression", message)


def _value(index: int, token: str) -> int:
    """One number or name of field `index`, range-checked."""
    low, high = _BOUNDS[index]
    if index == 4:
        high = 7
    if _is_number(token):
        number = int(token)
    elif token.lower() in _NAMES[index]:
        number = _NAMES[index][token.lower()]
    else:
        raise _fail(f"{FIELD_NAMES[index]} field: unknown value {token!r}")
    if not low <= number <= high:
        raise _fail(f"{FIELD_NAMES[index]} field: {number} is out of range {low}-{high}")
    return number


def _plain_item(index: int, item: str) -> set[int]:
    """`*`, `a`, `a-b`, each optionally `/step`; `a/step` runs from a to the field's end."""
    name = FIELD_NAMES[index]
    match = _ITEM.fullmatch(item)
    if match is None:
        raise _fail(f"{name} field: cannot read {item!r}")
    star, first, last, step_text = match.groups()
    low, high = _BOUNDS[index]
    if star:
        start, stop = low, high
    else:
        start = _value(index, first)
        stop = _value(index, last) if last else (max(high, start) if step_text else start)
        if stop < start:
            raise _fail(
                f"{name} field: range {item!r} runs backwards; wrap-around is not supported, "
                "split it into two ranges"
            )
    step = 1
    if step_text is not None:
        step = int(step_text)
        if step < 1:
            raise _fail(f"{name} field: step must be at least 1 in {item!r}")
        if step > high - low:
            raise _fail(f"{name} field: step {step} in {item!r} is larger than {high - low}")
    return set(range(start, stop + 1, step))


def _weekday(token: str) -> int:
    return _value(4, token) % 7


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _parse_dom(text: str) -> tuple[int, bool, bool, tuple[int, ...]]:
    """Day-of-month: (plain day mask, has L, has LW, the days n of nW items)."""
    days: set[int] = set()
    nearest: set[int] = set()
    last = last_weekday = False
    for item in _items(2, text):
        key = item.lower()
        if key == "l":
            last = True
        elif key == "lw":
            last_weekday = True
        elif key.endswith("w") and _is_number(key[:-1]):
            nearest.add(_value(2, key[:-1]))
        elif "w" in key or "l" in key:
            raise _fail(f"day-of-month field: cannot read {item!r}; use L, LW or a day like 15W")
        else:
            days |= _plain_item(2, item)
    return sum(1 << day for day in days), last, last_weekday, tuple(sorted(nearest))


def _parse_dow(
    text: str,
) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...], tuple[int, ...]]:
    """Day-of-week: (plain weekday masks by weekday of the 1st, (weekday, n) of `#`, `L` days)."""
    weekdays: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for item in _items(4, text):
        if "#" in item:
            weekday_text, _, index_text = item.partition("#")
            if not _is_number(index_text) or not 1 <= int(index_text) <= 5:
                raise _fail(
                    f"day-of-week field: {item!r} asks for occurrence {index_text!r}; "
                    "a weekday occurs at most 5 times a month, use #1 to #5"
                )
            nth.add((_weekday(weekday_text), int(index_text)))
        elif item.lower().endswith("l"):
            if len(item) == 1:
                raise _fail("day-of-week field: 'L' needs a weekday, e.g. 5L for the last Friday")
            last.add(_weekday(item[:-1]))
        else:
            weekdays |= {weekday % 7 for weekday in _plain_item(4, item)}
    masks = tuple(
        sum(1 << day for day in range(1, 32) if (first + day - 1) % 7 in weekdays) for first in range(7)
    )
    return masks, tuple(sorted(nth)), tuple(sorted(last))


def _items(index: int, text: str) -> list[str]:
    items = text.split(",")
    if "" in items:
        raise _fail(f"{FIELD_NAMES[index]} field: empty item in {text!r}")
    return items


def _values(index: int, text: str) -> tuple[int, ...]:
    values: set[int] = set()
    for item in _items(index, text):
        values |= _plain_item(index, item)
    return tuple(sorted(values))


def _split_fields(expression: str) -> list[str]:
    fields = expression.split()
    if not fields:
        raise _fail("expression is empty")
    if fields[0].startswith("@"):
        shortcut = fields[0].lower()
        if shortcut == "@reboot":
            raise _fail("@reboot is not supported: a schedule needs times to fire at")
        if shortcut not in MACROS:
            raise _fail(f"unknown shortcut {fields[0]!r}; use one of {', '.join(MACROS)}")
        if len(fields) > 1:
            raise _fail(f"{fields[0]} stands alone; found extra text {' '.join(fields[1:])!r}")
        return MACROS[shortcut].split()
    if len(fields) != 5:
        hint = "; seconds and year fields are not supported" if len(fields) in (6, 7) else ""
        raise _fail(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}{hint}"
        )
    for index, text in enumerate(fields):
        if text == "?" and index not in (2, 4):
            raise _fail(f"{FIELD_NAMES[index]} field: '?' is only allowed in the day fields")
    return fields


@lru_cache(maxsize=4096)
def compile_expression(expression: str) -> CronSpec:
    """Parse and check an expression; raise `CronError` naming the field and the problem.

    Cached, so callers grouping many tasks pay parsing once per distinct text. Rejects
    expressions that can never fire, e.g. `0 0 30 2 *` ("February has no day 30"), while
    `0 0 29 2 *` compiles: it fires in leap years.
    """
    if not isinstance(expression, str):
        raise _fail("expression must be text")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise _fail(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    fields = _split_fields(expression)
    minute, hour, dom, month, dow = ("*" if text == "?" else text for text in fields)
    minutes, hours = _values(0, minute), _values(1, hour)
    dom_mask, dom_last, dom_last_weekday, dom_nearest_weekday = _parse_dom(dom)
    dow_masks, dow_nth, dow_last = _parse_dow(dow)
    spec = CronSpec(
        minutes=minutes,
        hours=hours,
        month_mask=sum(1 << number for number in _values(3, month)),
        dom_mask=dom_mask,
        dom_last=dom_last,
        dom_last_weekday=dom_last_weekday,
        dom_nearest_weekday=dom_nearest_weekday,
        dow_masks=dow_masks,
        dow_nth=dow_nth,
        dow_last=dow_last,
        dom_star=dom.startswith("*"),
        dow_star=dow.startswith("*"),
        hour_star=hour.startswith("*"),
        day_offsets=tuple(timedelta(hours=h, minutes=m) for h in hours for m in minutes),
    )
    _check_can_fire(spec)
    return spec


def _nearest_weekday(day: int, length: int, first: int) -> int:
    """The weekday closest to `day` without leaving the month (`first`: weekday of the 1st,
    0 = Sunday). A Saturday 1st moves to Monday the 3rd; a Sunday on the last day to Friday."""
    weekday = (first + day - 1) % 7
    if weekday == 6:
        return day - 1 if day > 1 else day + 2
    if weekday == 0:
        return day + 1 if day < length else day - 2
    return day


def day_mask(spec: CronSpec, length: int, first: int) -> int:
    """Matching days of a month with `length` days whose 1st falls on weekday `first`."""
    dom = spec.dom_mask
    if spec.dom_last:
        dom |= 1 << length
    if spec.dom_last_weekday:
        dom |= 1 << _nearest_weekday(length, length, first)
    for day in spec.dom_nearest_weekday:
        if day <= length:
            dom |= 1 << _nearest_weekday(day, length, first)
    dow = spec.dow_masks[first]
    for weekday, nth in spec.dow_nth:
        dow |= 1 << (1 + (weekday - first) % 7 + 7 * (nth - 1))
    for weekday in spec.dow_last:
        dow |= 1 << (length - (first + length - 1 - weekday) % 7)
    days = dom & dow if spec.dom_star or spec.dow_star else dom | dow
    return days & ((1 << (length + 1)) - 2)


def month_day_mask(spec: CronSpec, year: int, month: int) -> int:
    """Bit d is set when day d of that month matches both day fields (month not checked)."""
    monday_first, length = calendar.monthrange(year, month)
    return day_mask(spec, length, (monday_first + 1) % 7)


def _check_can_fire(spec: CronSpec) -> None:
    """Reject a spec no calendar date satisfies. Every combination of month length (28 or 29
    for February) and weekday of the 1st occurs in the Gregorian calendar, so trying those
    at most 91 month shapes decides the question exactly, with no search over years."""
    months = [month for month in range(1, 13) if spec.month_mask >> month & 1]
    for month in months:
        lengths = (28, 29) if month == 2 else (calendar.monthrange(2001, month)[1],)
        if any(day_mask(spec, length, first) for length in lengths for first in range(7)):
            return
    days = [day for day in range(1, 32) if spec.dom_mask >> day & 1]
    titles = [_MONTH_TITLES[month] for month in months]
    if days and spec.dow_star and not (spec.dom_nearest_weekday or spec.dom_last):
        verb = "has" if len(titles) == 1 else "have"
        raise _fail(
            f"never fires: {' and '.join(titles)} {verb} no day {' or '.join(str(day) for day in days)}"
        )
    raise _fail("never fires: no date in the chosen months matches the day fields")
