"""The demo's HTTP endpoint, served by `headway up` on 127.0.0.1: it waits as long as a task
asks and answers, so demo runs take realistic time without any outside service.

The request body is the task payload (JSON object), all keys optional:
- `duration_ms`: how long to wait before answering (at most 60,000);
- `fail_first`: answer 503 to the first N calls with the same `Idempotency-Key` (the same
  schedule row), so the row is retried and succeeds on attempt N + 1, or ends `Dead` when
  N is not less than its type's attempts;
- `reject`: answer 422, which the handler does not retry (`Failed` at once).

Example: `{"duration_ms": 800, "fail_first": 1}` answers 503 at once on the first attempt,
and 200 after 0.8 s on the second.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ECHO_PATH = "/echo"
MAX_DURATION_MS = 60_000


def create_echo_app() -> Starlette:
    calls: Counter[str] = Counter()

    async def echo(request: Request) -> JSONResponse:
        try:
            body: Any = json.loads(await request.body() or b"{}")
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if not isinstance(body, dict):
            body = {}
        if body.get("reject") is True:
            return JSONResponse({"error": "refused on purpose (demo)"}, status_code=422)
        fail_first = _int(body.get("fail_first"), 0, 1_000)
        if fail_first:
            key = request.headers.get("idempotency-key", "")
            calls[key] += 1
            if calls[key] <= fail_first:
                return JSONResponse({"error": f"failing on purpose (call {calls[key]})"}, status_code=503)
        duration_ms = _int(body.get("duration_ms"), 0, MAX_DURATION_MS)
        await asyncio.sleep(duration_ms / 1000)
        return JSONResponse({"ok": True, "duration_ms": duration_ms})

    return Starlette(routes=[Route(ECHO_PATH, echo, methods=["POST"])])


def _int(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return low
    return int(min(max(value, low), high))
