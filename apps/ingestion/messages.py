"""What a transport hands the ingestion pipeline and what it gets back, framework-free.

Its own module, below endpoint, body, services and transport, so that each of them can name
these types without importing the others (endpoint → services → body → endpoint was an import
cycle). Other apps reach them through apps.ingestion.transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class IngestRequest:
    method: str
    content_type: str  # the media type, lowercased, without parameters
    content_encoding: str  # lowercased; "" when absent
    content_length: str  # as declared; "" when absent (chunked)
    secret: str | None  # the API key from Authorization: Bearer or X-API-Key
    body: bytes  # as received (compressed or not), at most the body cap + 1 bytes
    charset: str = ""  # the Content-Type's charset parameter, lowercased; "" when absent


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
