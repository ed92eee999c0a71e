"""One uvicorn worker bound with SO_REUSEPORT, so that N of them share a port and the kernel
spreads connections evenly. (`uvicorn --workers N` shares one accept queue, and a burst of
keep-alive connections, as from wrk or a load balancer, can all land on one worker.)
Usage: python bench/ingest_serve.py PORT [APP]   (APP defaults to config.asgi:application)
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    port = int(sys.argv[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # Accepted connections inherit it. uvicorn wraps a passed fd as AF_UNIX, so asyncio does not set
    # TCP_NODELAY on them as it does under `make run`; without it a response's second write (uvicorn
    # writes head and body apart) waits for the client's delayed ACK whenever the client sends its
    # next request within ~40 ms of the last answer: ~40 ms on such requests.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    app = sys.argv[2] if len(sys.argv) > 2 else "config.asgi:application"
    uvicorn.run(app, fd=sock.fileno(), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
