"""A real Vigil server for client tests: uvicorn in a subprocess, on the test database.

Not pytest-django's live_server: that one is WSGI and cannot read chunked request bodies, which
is exactly what the OTel JavaScript exporters send.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test database's URL: the run's own DATABASE_URL with the test database's name, so a
    socket directory (`?host=/…/var/postgres`, the embedded server) or any other option survives."""
    url = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(url._replace(path="/" + quote(settings.DATABASES["default"]["NAME"])))


def server_env(extra_env: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        # As `make run` and docker-compose serve: pooled connections. A per-thread persistent
        # connection (CONN_MAX_AGE) leaks under ASGI, where every request runs in a new thread: a
        # page's burst of API calls left dozens idle for a minute and exhausted PostgreSQL's slots.
        "DATABASE_POOL": "true",
        **(extra_env or {}),
    }


class GrpcServer:
    """`manage.py otlp_grpc` in a subprocess, on the test database; `address` is host:port."""

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        command = [sys.executable, "manage.py", "otlp_grpc", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=server_env(extra_env))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"otlp_grpc exited with {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("otlp_grpc did not start within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Server:
    def __init__(
        self, extra_env: dict[str, str] | None = None, workers: int = 1, app: str = "config.asgi:application"
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = server_env(extra_env)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}")
            try:
                httpx.get(f"{self.url}/v1/logs", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("uvicorn did not start within 30 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
