"""Moves every Python process of a test run ahead in time, subprocesses included.

`make test-ahead` puts this folder on PYTHONPATH with TEST_CLOCK_AHEAD_DAYS set:
Python imports `sitecustomize` at start-up, so the test runner, its workers and every
`headway` command they start see the wall clock that many days ahead (the clock keeps
ticking; monotonic time is untouched). A test that only passes near the day it was written
fails here. PostgreSQL's and RabbitMQ's own clocks stay where they are, which is the point:
business rules bind the instant Headway read, never the server's NOW()."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

_DAYS = os.environ.get("TEST_CLOCK_AHEAD_DAYS")

if _DAYS:
    import time_machine

    _traveller = time_machine.travel(datetime.now(UTC) + timedelta(days=float(_DAYS)), tick=True)
    _traveller.start()
