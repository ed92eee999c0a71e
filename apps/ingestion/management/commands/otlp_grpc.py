"""`python manage.py otlp_grpc`: the OTLP/gRPC receiver (apps.ingestion.grpc_server)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.ingestion.grpc_server import serve


class Command(BaseCommand):
    help = "Serve OTLP/gRPC (logs, metrics, traces) on OTLP_GRPC_PORT until SIGINT/SIGTERM."

    def add_arguments(self, parser: CommandParser) -> None:
        # A receiver listens for other hosts by default; `make run` passes its own HOST.
        parser.add_argument("--host", default="0.0.0.0")  # noqa: S104
        parser.add_argument("--port", type=int, default=int(settings.OTLP_GRPC_PORT))
        parser.add_argument(
            "--reuse-port", action="store_true", help="share the port with other receivers (SO_REUSEPORT)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["port"] == 0:
            self.stderr.write("OTLP_GRPC_PORT is 0: the OTLP/gRPC receiver is turned off.")
            return
        asyncio.run(serve(options["host"], options["port"], options["reuse_port"]))
