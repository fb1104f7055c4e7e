"""Is the message broker answering? A short connect-and-close, for `/health`."""

from __future__ import annotations

import contextlib

DEFAULT_TIMEOUT_S = 2.0


def check_broker(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> str | None:
    """None when the broker at `url` accepts a connection within `timeout_s`, else a short
    reason (an exception class name: the URL and its password never appear).

    `memory://` is the in-process broker, up whenever this process is.
    """
    if url.startswith("memory://"):
        return None
    if not url.startswith(("amqp://", "amqps://")):
        return "unsupported broker URL scheme"
    import pika

    try:
        parameters = pika.URLParameters(url)
        # One attempt, bounded at every stage, so a black-holed host cannot hang the probe.
        parameters.connection_attempts = 1
        parameters.retry_delay = 0
        parameters.socket_timeout = timeout_s
        parameters.stack_timeout = timeout_s
        parameters.blocked_connection_timeout = timeout_s
        connection = pika.BlockingConnection(parameters)
    except Exception as error:  # pika raises a dozen unrelated types; any of them means down
        return type(error).__name__
    # Closing a connection that just worked: a failure here says nothing about the broker.
    with contextlib.suppress(Exception):
        connection.close()
    return None
