"""Writing test telemetry: the one module tests send logs, metrics and traces through.

Everything goes in through the real ingestion endpoints (Django's test client, in the test's
transaction), so a test's data took the path a user's data takes: decode, validate, redact,
quota, COPY, announce. Reading rows back is for the conftest of each folder.
"""

from __future__ import annotations

import gzip
from typing import Any

import orjson
from django.test import Client


def post(
    path: str,
    body: bytes | str,
    key: str | None,
    content_type: str = "application/json",
    gzipped: bool = False,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST a body to an ingestion path with the key as a bearer token; the response, unchecked."""
    data = body.encode() if isinstance(body, str) else body
    extra: dict[str, str] = dict(headers or {})
    if gzipped:
        data = gzip.compress(data)
        extra["content_encoding"] = "gzip"
    if key is not None:
        extra["authorization"] = f"Bearer {key}"
    return Client().post(path, data=data, content_type=content_type, headers=extra)


def post_json(path: str, payload: Any, key: str | None, **kwargs: Any) -> Any:
    return post(path, orjson.dumps(payload), key, **kwargs)


def ingest_logs(key: str, records: list[dict[str, Any]]) -> None:
    """Native JSON logs; every record must be accepted."""
    response = post_json("/api/v1/ingest/logs", records, key)
    assert response.status_code == 200, response.content
    assert response.json()["rejected"] == 0, response.json()


def ingest_metrics(key: str, records: list[dict[str, Any]]) -> None:
    """Native JSON metrics; the request must succeed."""
    response = post_json("/api/v1/ingest/metrics", records, key)
    assert response.status_code == 200, response.content


def post_otlp_metrics(key: str, payload: dict[str, Any]) -> None:
    """An OTLP/JSON metrics request; no data point may be rejected."""
    response = post_json("/v1/metrics", payload, key)
    assert response.status_code == 200, response.content
    assert not response.json().get("partialSuccess", {}).get("rejectedDataPoints"), response.content
