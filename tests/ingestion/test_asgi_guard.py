"""The ingestion ASGI fast path reads at most the body cap: an endless chunked body is answered
once the cap is passed, and its connection closed (Django's ASGI handler, which serves every other
route, reads the whole body before any view runs)."""

import asyncio

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
    consumed, sent = stream_into(application, "/api/v1/ingest/logs")
    # Answered while the body was still streaming, after the first MiB (the checks run in their
    # usual order: no key, so 401). Django would wait for the end (next test).
    assert sent[0]["status"] == 401
    assert (b"connection", b"close") in sent[0]["headers"]
    assert consumed == 17  # 17 chunks of 64 KiB: the first read past 1 MiB


def test_other_paths_go_to_django(settings):
    settings.INGEST_MAX_BODY_BYTES = 1024 * 1024
    consumed, sent = stream_into(application, "/health")
    assert consumed == SAFETY_STOP and sent == []  # read to the (forced) end, then aborted
