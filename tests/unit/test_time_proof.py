"""The suite and the README work on any date: nothing hands `--at` (which must lie in the
future when the command runs) a literal instant that a later day turns into the past.

Literal instants stay fine where the code takes the instant as input (`--start`, `--from`,
an injected clock), and for `--at` values a test expects to be refused (before 2021 or
malformed). A future instant is computed from the clock or written as a span (`--at +2h`)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.core.instants import InstantError, parse_instant_text

ROOT = Path(__file__).resolve().parents[2]
# Anything from here on may be "the future" on the day a test was written.
PLAINLY_PAST = datetime(2021, 1, 1, tzinfo=UTC)
_MARKDOWN_AT = re.compile(r"--at[= ]+['\"]?([^\s'\"]+)")


def _dated(value: str) -> bool:
    """Whether `value`, given to `--at`, names a fixed instant that will one day be past."""
    if value.startswith("+"):
        return False
    try:
        return parse_instant_text(value, PLAINLY_PAST) >= PLAINLY_PAST
    except InstantError:
        return False  # refused whatever the date: a bad-input test


def literal_at_values_in_python(source: str) -> Iterator[tuple[int, str]]:
    """(line, value) of each string constant that directly follows a `"--at"` constant in a
    list, tuple or call's arguments."""
    for node in ast.walk(ast.parse(source)):
        items: list[ast.expr]
        if isinstance(node, ast.List | ast.Tuple):
            items = list(node.elts)
        elif isinstance(node, ast.Call):
            items = list(node.args)
        else:
            continue
        for flag, value in zip(items, items[1:], strict=False):
            if (
                isinstance(flag, ast.Constant)
                and flag.value == "--at"
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                yield value.lineno, value.value


def literal_at_values_in_markdown(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _MARKDOWN_AT.finditer(line):
            yield number, match.group(1)


def dated_at_values() -> list[str]:
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for line, value in literal_at_values_in_python(path.read_text()):
            if _dated(value):
                found.append(f"{path.relative_to(ROOT)}:{line}: --at {value}")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line, value in literal_at_values_in_markdown(path.read_text()):
            if _dated(value):
                found.append(f"{path.relative_to(ROOT)}:{line}: --at {value}")
    return found


def test_no_test_or_document_passes_a_dated_instant_to_at() -> None:
    assert dated_at_values() == [], "compute future instants from the clock, or write --at +2h"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('run(["task", "add", "--at", "2026-12-01T09:00:00Z"])', [(1, "2026-12-01T09:00:00Z")]),
        ('headway("task", "add", "--at", "+2h")', [(1, "+2h")]),
        ('args = ("--at", iso(start))', []),
    ],
)
def test_the_check_sees_literal_at_values(source: str, expected: list[tuple[int, str]]) -> None:
    assert list(literal_at_values_in_python(source)) == expected


@pytest.mark.parametrize(
    ("value", "dated"),
    [
        ("2026-12-01T09:00:00Z", True),
        ("2099-01-01T00:00:00Z", True),
        ("2020-01-01T09:00:00Z", False),
        ("2030-01-01T09:00:00", False),
        ("+2h", False),
    ],
)
def test_which_values_a_later_day_breaks(value: str, dated: bool) -> None:
    assert _dated(value) is dated


def test_markdown_examples_are_read() -> None:
    text = "headway task add --name x --type reminder --at 2026-12-01T09:00:00Z\n--at +2h"
    assert list(literal_at_values_in_markdown(text)) == [(1, "2026-12-01T09:00:00Z"), (2, "+2h")]
