"""Settings are the one source of defaults and checks for every HEADWAY_* option."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main
from pydantic import ValidationError
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from engine.adapters.tables import scaling_parameters
from engine.cli import app
from engine.commands.common import from_settings
from engine.settings import ENV_PREFIX, Settings, check_database_url, validate_setting

README = Path(__file__).resolve().parents[2] / "README.md"


def _options(command: typer.main.click.Command, path: str = "headway") -> Iterator[tuple[str, object]]:
    for param in command.params:
        yield path, param
    for name, sub in getattr(command, "commands", {}).items():
        yield from _options(sub, f"{path} {name}")


SETTING_OPTIONS = [
    (path, param)
    for path, param in _options(typer.main.get_command(app))
    if isinstance(getattr(param, "envvar", None), str)
    and param.envvar.removeprefix(ENV_PREFIX).lower() in Settings.model_fields  # type: ignore[attr-defined]
]


def test_every_setting_option_defers_to_settings_and_shows_its_default() -> None:
    assert len(SETTING_OPTIONS) >= 15
    for path, param in SETTING_OPTIONS:
        field = param.envvar.removeprefix(ENV_PREFIX).lower()  # type: ignore[attr-defined]
        assert param.callback is not None, (path, field)  # type: ignore[attr-defined]
        # Typer wraps the callback; the wrapped function is ours.
        assert param.callback.__wrapped__ is from_settings, (path, field)  # type: ignore[attr-defined]
        # What --help shows as the default is what Settings uses.
        assert param.default == Settings.model_fields[field].default, (path, field)  # type: ignore[attr-defined]


def test_readme_lists_every_setting_with_its_default() -> None:
    rows = {
        line.split("|")[1].strip().strip("`"): line.split("|")[2].strip().strip("`")
        for line in README.read_text().splitlines()
        if line.startswith("| `HEADWAY_")
    }
    for field, info in Settings.model_fields.items():
        variable = ENV_PREFIX + field.upper()
        assert variable in rows, variable
        assert _same(rows[variable], info.default), (variable, rows[variable], info.default)


def _same(shown: str, default: object) -> bool:
    if default is None:
        return shown == "unset"
    if default == "":
        return shown == "empty"
    if isinstance(default, bool):
        return shown == str(default).lower()
    if isinstance(default, int | float):
        return float(shown) == default
    return shown == default


def _run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    env.setdefault("HEADWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'h.db'}")
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {"HEADWAY_BUFFER": "1.5"}, "HEADWAY_BUFFER: Input should be less than 1 (got '1.5')"),
        ([], {"HEADWAY_CAPACITY_MS": "abc"}, "HEADWAY_CAPACITY_MS: Input should be a valid integer"),
        ([], {"HEADWAY_BUFFER": "nan"}, "HEADWAY_BUFFER: Input should be a finite number"),
        (["--buffer", "1"], {}, "--buffer: Input should be less than 1 (got '1')"),
        (["--capacity-ms", "0"], {}, "--capacity-ms: Input should be greater than 0"),
        ([], {"HEADWAY_DATABASE_URL": "mysql://u@h/d"}, "HEADWAY_DATABASE_URL: Headway runs on PostgreSQL"),
        (["--database-url", "sqlite://"], {}, "--database-url: SQLite needs a file"),
    ],
)
def test_a_bad_setting_exits_2_naming_the_variable_or_option(
    tmp_path: Path, args: list[str], env: dict[str, str], expected: str
) -> None:
    code, stderr = _run(tmp_path, "db", "upgrade", *args, **env)
    assert code == 2
    assert stderr.startswith(f"error: {expected}")
    assert len(stderr.splitlines()) == 1
    assert not (tmp_path / "h.db").exists()  # refused before touching the database


def test_a_url_with_a_password_is_not_echoed(tmp_path: Path) -> None:
    code, stderr = _run(tmp_path, "db", "current", HEADWAY_DATABASE_URL="mysql://u:s3cret@h/d")
    assert code == 2 and "s3cret" not in stderr


def _stored_parameters(tmp_path: Path) -> tuple[int, int]:
    engine = create_engine(f"sqlite:///{tmp_path / 'h.db'}")
    with engine.connect() as connection:
        row = connection.execute(select(scaling_parameters)).one()
    engine.dispose()
    return int(row.capacity_ms), int(row.buffer_ppm)


@pytest.mark.parametrize(
    ("args", "env", "stored"),
    [
        ([], {}, (10_000, 100_000)),  # Settings' defaults
        ([], {"HEADWAY_CAPACITY_MS": "12000", "HEADWAY_BUFFER": "0.25"}, (12_000, 250_000)),
        ([], {"HEADWAY_CAPACITY_MS": "", "HEADWAY_BUFFER": ""}, (10_000, 100_000)),  # empty = unset
        (["--buffer", "0.2"], {"HEADWAY_BUFFER": "1.5"}, (10_000, 200_000)),  # the option wins
    ],
)
def test_values_come_from_option_then_variable_then_settings_default(
    tmp_path: Path, args: list[str], env: dict[str, str], stored: tuple[int, int]
) -> None:
    code, stderr = _run(tmp_path, "db", "upgrade", *args, **env)
    assert code == 0, stderr
    assert _stored_parameters(tmp_path) == stored


def test_help_is_instant_because_it_loads_neither_pydantic_nor_sqlalchemy() -> None:
    probe = (
        "import sys, engine.cli; "
        "print(sorted(m for m in ('pydantic', 'pydantic_settings', 'sqlalchemy') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@db:5432/headway", "postgresql+psycopg://u@db:5432/headway"),
        ("postgresql://u@db/headway", "postgresql+psycopg://u@db/headway"),
        (" postgresql+psycopg2://u@db/headway ", "postgresql+psycopg://u@db/headway"),
        ("sqlite:///./headway.db", "sqlite:///./headway.db"),
        ("sqlite:////var/lib/headway.db", "sqlite:////var/lib/headway.db"),
    ],
)
def test_database_urls_are_accepted_as_pasted(url: str, expected: str) -> None:
    assert check_database_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "not a database URL"),
        ("headway.db", "not a database URL"),
        ("mysql://u@h/d", "not 'mysql'"),
        ("postgresql+asyncpg://u@h/d", "psycopg 3"),
        ("sqlite://", "SQLite needs a file"),
        ("sqlite:///:memory:", "SQLite needs a file"),
    ],
)
def test_database_urls_headway_cannot_use_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_database_url(url)


def test_validate_setting_applies_the_settings_rules_to_one_value() -> None:
    assert validate_setting("buffer", "0.25") == 0.25
    assert validate_setting("scheduler_window_hours", None) is None
    for field, value in [("buffer", "1"), ("forecast_hours", "0.01"), ("dashboard_port", "70000")]:
        with pytest.raises(ValidationError):
            validate_setting(field, value)
