"""The request body limit (glue.yml ``server.max_body``) for the API routes.

A pure ASGI middleware (no per-request task, so the webhook path pays nothing for it): a
request whose Content-Length is over the limit gets 413 in the error shape before any route
reads it. The webhook hooks apply the same limit themselves (they count their refusals).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from glue_runtime.service.errors import body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HOOKS = "/v1/hooks/"


class BodyLimit:
    """413 for a declared body over ``limit()`` bytes (read per request: settings may change)."""

    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(HOOKS):
            size = _content_length(scope)
            limit = self.limit()
            if size is not None and size > limit:
                await _too_large(send, limit)
                return
        await self.app(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, limit: int) -> None:
    payload = json.dumps(
        body(
            "too_large",
            f"the request body is over {limit} bytes",
            hint="glue.yml server.max_body sets the limit",
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
