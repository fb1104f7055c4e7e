"""Handlers by name: the built-ins and any registered through the `headway.handlers` entry
point group (a callable taking a TaskContext; see `engine.ports.Handler`).

A task type's `handler` column names its handler. Built-ins:
- `http`: the payload is the request, `{"url", "method", "headers", "json"}`.
- `reminder`, `notification`: POST the task payload as JSON to the endpoint configured for
  the type (`url` in the type's config, else `HEADWAY_REMINDER_URL` /
  `HEADWAY_NOTIFICATION_URL`), with optional `method` and `headers` in the config.
- `noop`: does nothing; for benchmarks and smoke tests.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import httpx

from engine.adapters.outbound_http import guarded_client, send_request
from engine.core.execution import TaskContext, TaskFailed
from engine.core.outbound import OutboundPolicy
from engine.ports import Handler

log = logging.getLogger("headway.handlers")

ENTRY_POINT_GROUP = "headway.handlers"
BUILTIN_HANDLERS = ("http", "reminder", "notification", "noop")


@dataclass(frozen=True)
class HandlerSettings:
    policy: OutboundPolicy = OutboundPolicy()
    endpoints: Mapping[str, str] = field(default_factory=dict)  # handler name -> default URL


def _invalid(reason: str) -> TaskFailed:
    return TaskFailed(reason, outcome="invalid_payload", retryable=False)


class HttpHandler:
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def __call__(self, context: TaskContext) -> str | None:
        payload = context.payload
        url = payload.get("url")
        if not isinstance(url, str) or not url:
            raise _invalid("payload.url must be a non-empty string")
        headers = payload.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise _invalid("payload.headers must be an object of strings")
        method = payload.get("method", "POST" if "json" in payload else "GET")
        if not isinstance(method, str):
            raise _invalid("payload.method must be a string")
        return send_request(self._client, context, url, method, headers, payload.get("json"))


class EndpointHandler:
    """Calls one configured endpoint with the task payload as its JSON body."""

    def __init__(self, client: httpx.Client, name: str, default_url: str | None) -> None:
        self._client = client
        self._name = name
        self._default_url = default_url

    def __call__(self, context: TaskContext) -> str | None:
        url = context.config.get("url") or self._default_url
        if not url:
            raise TaskFailed(
                f"no endpoint configured for {self._name}: set url in the task type's config "
                f"or HEADWAY_{self._name.upper()}_URL",
                outcome="no_endpoint",
                retryable=False,
            )
        headers: dict[str, Any] = context.config.get("headers") or {}
        method = context.config.get("method", "POST")
        return send_request(self._client, context, str(url), str(method), headers, context.payload)


def noop(context: TaskContext) -> str | None:
    return None


def load_handlers(settings: HandlerSettings) -> dict[str, Handler]:
    """Built-ins plus every installed entry point; an entry point may replace a built-in."""
    client = guarded_client(settings.policy)
    handlers: dict[str, Handler] = {
        "http": HttpHandler(client),
        "reminder": EndpointHandler(client, "reminder", settings.endpoints.get("reminder")),
        "notification": EndpointHandler(client, "notification", settings.endpoints.get("notification")),
        "noop": noop,
    }
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            handlers[entry.name] = entry.load()
        except Exception:
            # One broken plug-in must not stop the processor from running every other type.
            log.exception("handler %s (%s) failed to load", entry.name, entry.value)
    return handlers


def registered_handler_names() -> frozenset[str]:
    """The names a task type's `handler` may take: the built-ins and every installed entry
    point of the group, read from the packages' metadata without importing any plug-in."""
    return frozenset(BUILTIN_HANDLERS) | {entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)}
