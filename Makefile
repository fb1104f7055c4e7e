# Headway: `make run` starts Headway on the embedded default, `make test` runs every test.
# Both create the virtualenv in .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium; installed once, here and so in CI.
CHROMIUM := /usr/bin/chromium
export HEADWAY_DATABASE_URL ?= sqlite:///./headway.db

# The commands whose rules read the real clock ("must be in the future"), run again with every
# Python process a year ahead (tests/clock_ahead): a test that only passes near the day it was
# written fails here. `make test-ahead` moves the whole suite.
CLOCK_AHEAD := PYTHONPATH=tests/clock_ahead TEST_CLOCK_AHEAD_DAYS=365
CLOCK_SENSITIVE := tests/acceptance/test_cli.py tests/acceptance/test_relative_at.py \
	tests/acceptance/test_simulate_command.py tests/acceptance/test_forecast_cli.py tests/unit/test_time_proof.py

.PHONY: run test test-ahead lint typecheck unit integration bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(CHROMIUM):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium

run: $(STAMP)
	$(BIN)/headway db upgrade
	$(BIN)/headway up

test: $(STAMP) $(CHROMIUM) lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)
	$(CLOCK_AHEAD) $(BIN)/python -m pytest -n 2 -p no:cacheprovider -W ignore::pytest.PytestAssertRewriteWarning \
		$(CLOCK_SENSITIVE)

test-ahead: $(STAMP)
	$(CLOCK_AHEAD) $(BIN)/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider \
		-W ignore::pytest.PytestAssertRewriteWarning $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(wildcard engine simulation dashboard tests benchmarks)

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) headway.db headway.db-wal headway.db-shm
