import pytest

from engine.adapters.sql_queries import named_query, parse_named_queries
from engine.migrations.sql_files import sql_dir


def test_blocks_are_split_by_name_without_comments_or_semicolons() -> None:
    script = """-- header, before any block
-- name: first
-- says what it does, with a :word that is no parameter
SELECT 1;

-- name: second
SELECT :a
FROM t;
"""
    assert parse_named_queries(script) == {"first": "SELECT 1", "second": "SELECT :a\nFROM t"}


def test_a_name_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse_named_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;\n")


def test_both_dialects_name_the_same_queries() -> None:
    names = {
        dialect: set(parse_named_queries((sql_dir() / dialect / "queries.sql").read_text()))
        for dialect in ("postgresql", "sqlite")
    }
    # PostgreSQL's finish_runs records the runs itself (a data-modifying CTE); SQLite cannot.
    sqlite_only = {"record_runs"}
    # Only PostgreSQL partitions the history (engine.adapters.partition_store).
    postgresql_only = {"find_rows_kept_from_week"}
    # Only PostgreSQL appends counts and merges them (engine.adapters.schedule_counts and
    # dead_letter_counts).
    postgresql_only |= {"merge_schedule_minute_counts", "recount_schedule_minutes"}
    postgresql_only |= {"merge_dead_letter_counts"}
    assert names["postgresql"] - postgresql_only == names["sqlite"] - sqlite_only
    assert names["postgresql"] >= {"count_runs_per_minute_and_type", "finish_runs"}
    assert named_query("sqlite", "summarize_scheduled_minutes").startswith("WITH")
    with pytest.raises(KeyError, match="no query"):
        named_query("sqlite", "missing")
