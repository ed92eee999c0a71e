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
from config.serve import NoDelayHttpToolsProtocol


def main() -> None:
    port = int(sys.argv[1])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    app = sys.argv[2] if len(sys.argv) > 2 else "config.asgi:application"
    # The deployment's protocol (config/serve.py): TCP_NODELAY on every connection, which asyncio
    # does not set on a passed fd's connections (answers would wait ~40 ms for delayed ACKs).
    uvicorn.run(app, fd=sock.fileno(), log_level="warning", access_log=False, http=NoDelayHttpToolsProtocol)


if __name__ == "__main__":
    main()
