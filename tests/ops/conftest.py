"""Fixtures for the ops surface: unreachable dependencies and a clean heartbeat."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.conf import settings

from apps.ops import health


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it) but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _fresh_ops_state() -> Iterator[None]:
    """Each test starts without a cached migrations answer and without a heartbeat."""
    health.forget_migrations_answer()
    health.redis_client(settings.REDIS_URL).delete(health.BEAT_HEARTBEAT_KEY)
    yield
    health.forget_migrations_answer()
