"""ASGI guard for ingestion bodies.

Django's ASGI handler reads a whole request body (spooling to disk) before the view runs, so a
client streaming an endless chunked body would be read to the end before the view's 413. This
middleware counts body bytes on ingestion paths and ends the body one byte past the cap: Django
then hands the view cap + 1 bytes, and apps.ingestion.body answers 413.

Wire it around the Django app in config/asgi.py:
`django_asgi_app = limit_ingest_bodies(get_asgi_application())`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from apps.ingestion.body import max_body_bytes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
INGEST_PREFIXES = ("/v1/logs", "/v1/metrics", "/v1/traces", "/api/v1/ingest/")


def limit_ingest_bodies(app: App) -> App:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(INGEST_PREFIXES):
            await app(scope, receive, send)
            return
        limit, seen, cut = max_body_bytes(), 0, False

        async def counted_receive() -> Message:
            nonlocal seen, cut
            if cut:
                # Django listens for the disconnect after the body: discard the rest until then.
                while (message := await receive())["type"] == "http.request":
                    pass
                return message
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Enough to prove the body is too large: end it here for Django.
                    cut = True
                    return {"type": "http.request", "body": message.get("body", b""), "more_body": False}
            return message

        await app(scope, counted_receive, send)

    return guarded
