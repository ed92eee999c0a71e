"""The ASGI body guard: an endless chunked body is cut one byte past the cap, so Django never
spools it (Django's ASGI handler reads the whole body before any view runs)."""

import asyncio

from apps.ingestion.asgi import limit_ingest_bodies
from config.asgi import application

CHUNK = 64 * 1024
SAFETY_STOP = 2000  # chunks (125 MiB): even a broken guard cannot fill the disk


def scope_for(path: str) -> dict:
    return {
        "type": "http",
        "path": path,
        "raw_path": path.encode(),
        "method": "POST",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "root_path": "",
        "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }


def stream_into(app, path: str) -> tuple[int, list[dict]]:
    sent: list[dict] = []
    consumed = 0

    async def receive() -> dict:
        nonlocal consumed
        if sent or consumed >= SAFETY_STOP:
            await asyncio.sleep(0.01)
            return {"type": "http.disconnect"}
        consumed += 1
        await asyncio.sleep(0)
        return {"type": "http.request", "body": b" " * CHUNK, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope_for(path), receive, send))
    return consumed, sent


def test_an_endless_body_is_cut_just_past_the_cap(settings):
    settings.INGEST_MAX_BODY_BYTES = 1024 * 1024
    consumed, sent = stream_into(limit_ingest_bodies(application), "/api/v1/ingest/logs")
    # Answered while the body was still streaming: Django only waited for the first MiB (the rest
    # is discarded as it arrives, never spooled). Unguarded, Django waits for the end (next test).
    assert sent[0]["status"] == 401
    assert consumed < SAFETY_STOP


def test_other_paths_are_not_touched_by_the_guard(settings):
    settings.INGEST_MAX_BODY_BYTES = 1024 * 1024
    consumed, sent = stream_into(limit_ingest_bodies(application), "/health")
    assert consumed == SAFETY_STOP and sent == []  # read to the (forced) end, then aborted
