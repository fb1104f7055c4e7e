"""HTTP calls on behalf of tasks, with the outbound address policy enforced at connect time.

The check sits in the connection layer (an httpcore network backend): every connection,
including each redirect hop and each retry of a pooled connection, resolves the host,
refuses the call if any resolved address is blocked (`engine.core.outbound`), and then
connects to the address it checked, so a DNS answer that changes between check and connect
cannot slip through. Proxies from the environment are ignored: they would bypass the check.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from engine.core.execution import TaskContext, TaskFailed, excerpt
from engine.core.outbound import BLOCKED_REASON, OutboundPolicy, destination_refusal

ALLOWED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Client errors that a later attempt may not repeat; other 4xx answers end the row at once.
RETRYABLE_CLIENT_STATUSES = frozenset({408, 425, 429})


class BlockedDestination(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GuardedBackend(httpcore.SyncBackend):
    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from error
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        refusal = destination_refusal(host, addresses, self._policy)
        if refusal is not None:
            raise BlockedDestination(refusal)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                last_error = error
        assert last_error is not None
        raise last_error


def guarded_client(policy: OutboundPolicy) -> httpx.Client:
    """An httpx client that follows redirects and checks every destination it connects to."""
    transport = httpx.HTTPTransport(retries=0)
    # httpx offers no public hook for the network backend; the pool's is set once here, and
    # tests/unit/test_outbound_http.py proves the guard holds for direct calls and redirects.
    pool = transport._pool
    assert hasattr(pool, "_network_backend"), "httpx/httpcore changed: outbound guard not installed"
    pool._network_backend = GuardedBackend(policy)
    return httpx.Client(transport=transport, follow_redirects=True, trust_env=False, max_redirects=10)


def send_request(
    client: httpx.Client,
    context: TaskContext,
    url: str,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    json_body: Any = None,
) -> str:
    """Send one request with the task's timeout and `Idempotency-Key: <schedule row id>`.
    A 2xx answer is success (returns an excerpt of it); anything else raises TaskFailed."""
    method = method.upper()
    if method not in ALLOWED_METHODS:
        raise TaskFailed(f"method {method!r} is not supported", outcome="invalid_payload", retryable=False)
    all_headers = {**(headers or {}), "Idempotency-Key": context.idempotency_key}
    try:
        response = client.request(method, url, headers=all_headers, json=json_body, timeout=context.timeout_s)
    except BlockedDestination as error:
        raise TaskFailed(error.reason, outcome=BLOCKED_REASON, retryable=False) from None
    except httpx.TimeoutException as error:
        raise TaskFailed(f"timeout after {context.timeout_s:g} s: {error!r}", outcome="timeout") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        raise TaskFailed(f"bad url {url!r}: {error}", outcome="invalid_payload", retryable=False) from None
    except httpx.HTTPError as error:
        raise TaskFailed(f"{error.__class__.__name__}: {error}", outcome="failed") from None
    summary = f"HTTP {response.status_code} {excerpt(response.text, 500)}"
    if response.is_success:
        return summary
    retryable = response.status_code >= 500 or response.status_code in RETRYABLE_CLIENT_STATUSES
    raise TaskFailed(summary, outcome="http_status", retryable=retryable)
