"""The deployment's web server (config/serve.py) turns Nagle off on every connection, even on a
listening socket made with protocol 0 as `uvicorn --workers N` makes it, where asyncio leaves it on
(and an answer's body then waits ~40 ms for the client's delayed ACK)."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from config.serve import NoDelayHttpToolsProtocol


async def _app(scope, receive, send) -> None:  # pragma: no cover - no request is sent
    raise AssertionError("not called")


def nodelay_on_server_side(protocol_class: type[HttpToolsProtocol]) -> int:
    """TCP_NODELAY of the server's end of one connection accepted by `protocol_class`."""

    async def run() -> int:
        config = uvicorn.Config(_app, http=protocol_class, lifespan="off")
        config.load()
        state = ServerState()
        made: list[HttpToolsProtocol] = []

        def factory() -> HttpToolsProtocol:
            made.append(protocol_class(config=config, server_state=state, app_state={}))
            return made[-1]

        listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # protocol 0, as uvicorn binds it
        listening.bind(("127.0.0.1", 0))
        server = await asyncio.get_running_loop().create_server(factory, sock=listening)
        _, writer = await asyncio.open_connection(*listening.getsockname())
        for _ in range(100):
            if made and made[0].transport is not None:
                break
            await asyncio.sleep(0.01)
        value = made[0].transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        server.close()
        return value

    return asyncio.run(run())


def test_connections_of_the_deployment_server_have_nagle_off():
    assert nodelay_on_server_side(NoDelayHttpToolsProtocol) != 0


def test_uvicorns_own_protocol_leaves_it_on_there_which_is_why_serve_exists():
    assert nodelay_on_server_side(HttpToolsProtocol) == 0


@pytest.mark.parametrize("argv", [["--port", "not-a-port"], ["--workers", "two"]])
def test_bad_arguments_are_refused_before_anything_starts(argv, capsys):
    from config.serve import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and "invalid int value" in capsys.readouterr().err
