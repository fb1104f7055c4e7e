"""Bearer-token check in front of the whole app.

A middleware rather than a dependency: it answers before the body is read or validated (so
an anonymous caller learns nothing from a 422), and it also covers `/docs`,
`/openapi.json` and unknown paths. Only the paths in `public_paths` are open.
"""

from __future__ import annotations

import hmac
import json

from fastapi.security import HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

# Declares the scheme in the OpenAPI document (Swagger's "Authorize" button); the check
# itself is BearerTokenMiddleware's.
bearer_scheme = HTTPBearer(auto_error=False, description="HEADWAY_API_TOKEN")


class BearerTokenMiddleware:
    def __init__(self, app: ASGIApp, token: str, public_paths: frozenset[str]) -> None:
        self.app = app
        self.token = token.encode()
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": "missing or wrong bearer token"}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _authorized(self, scope: Scope) -> bool:
        given = [value for name, value in scope["headers"] if name == b"authorization"]
        if len(given) != 1:
            return False
        scheme, _, credentials = given[0].partition(b" ")
        # The scheme name is case-insensitive (RFC 9110); the comparison of the token is
        # constant-time, so response times do not reveal a matching prefix.
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token)
