"""A local HTTP endpoint that counts idempotency keys: the receiving end of task calls.

`/ok` answers 200, `/fail` 500, `/slow?ms=N` waits N ms first, `/redirect?to=URL` 302.
Every request is counted by its `Idempotency-Key` header, so tests can check that each row
reached it exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Sink:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.keys: Counter[str] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self) -> int:
        with self.lock:
            return sum(self.keys.values())


@contextmanager
def running_sink() -> Iterator[Sink]:
    sink: Sink

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            url = urlparse(self.path)
            with sink.lock:
                sink.keys[self.headers.get("Idempotency-Key", "")] += 1
            if url.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", parse_qs(url.query)["to"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if url.path == "/slow":
                time.sleep(int(parse_qs(url.query).get("ms", ["0"])[0]) / 1000)
            status = 500 if url.path == "/fail" else 200
            body = b"fail" if status == 500 else b"ok"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        # The default backlog of 5 refuses connections when a fleet of workers opens many
        # at once, and a refused call is (rightly) a failed attempt.
        request_queue_size = 256

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a caller killed mid-request (the fault tests do that) is no error here

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    sink = Sink(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
