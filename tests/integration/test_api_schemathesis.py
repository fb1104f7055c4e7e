"""Property-based run of the API against its own OpenAPI document (schemathesis), in-process
on PostgreSQL: no generated request may cause a 500 or a response the document does not allow."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import Engine

from engine.api.deps import ApiContext, get_context
from tests.integration.conftest import API_NOW, Clock, make_app

pytestmark = pytest.mark.integration

# Per operation: enough to reach the validation paths, bounded so the run stays well under a
# minute. HEADWAY_FUZZ_EXAMPLES=1000 makes a longer hunt.
MAX_EXAMPLES = int(os.environ.get("HEADWAY_FUZZ_EXAMPLES", "40"))

# The document is read from the app at collection time, before any database exists; the
# app is pointed at this module's PostgreSQL database for the run (see `on_postgresql`).
app = make_app("sqlite://", Clock(API_NOW))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(autouse=True)
def on_postgresql(shared_engine: Engine) -> Iterator[None]:
    context = ApiContext(engine=shared_engine, broker_url="memory://", clock=Clock(API_NOW))
    app.dependency_overrides[get_context] = lambda: context
    yield
    app.dependency_overrides.clear()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_no_server_error_and_every_response_matches_the_document(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
