"""`python -m config.serve`: the web server of a deployment (docker-compose): uvicorn, with
TCP_NODELAY on every connection.

Design note. uvicorn writes an answer's head and body in two writes. Under `uvicorn --workers N`
its listening socket is made with protocol 0, and asyncio sets TCP_NODELAY only on accepted
sockets that say IPPROTO_TCP, so Nagle stays on: an answer to a request sent within ~40 ms of the
previous one on a keep-alive connection (an exporter's next batch, an SDK's next event) waits for
the client's delayed ACK. The benchmark servers had the same fault: one connection pacing 37 ms saw
p50 47 ms, 4.6 ms with TCP_NODELAY (bench/ingest_serve.py). `make run` is one process bound
through asyncio and always had it. This protocol sets it as each connection opens.

Usage: python -m config.serve [--host 0.0.0.0] [--port 8000] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Not by sock.family: uvicorn wraps a passed fd (`fd=`) as AF_UNIX whatever it is.
            with contextlib.suppress(OSError):  # a real Unix socket has no Nagle to turn off
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m config.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container's server listens on all
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    uvicorn.run(
        "config.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        http=NoDelayHttpToolsProtocol,
        lifespan="off",
        access_log=False,
    )


if __name__ == "__main__":
    main()
