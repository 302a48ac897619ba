"""Small real servers on 127.0.0.1 that answer JSON-RPC however a test needs (garbage included).

Imported by name (`from chain_servers import ...`): pytest puts this directory on sys.path.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class LocalServer:
    """A real aiohttp server; `hits` counts POSTs, `peers` the client ports seen."""

    runner: web.AppRunner
    url: str
    hits: int = 0
    peers: set[int] = field(default_factory=set)


def free_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rpc_answer(body: Any, result: Callable[[str, list[Any]], Any]) -> Any:
    """A well-formed JSON-RPC answer to `body` (single or batch), using `result(method, params)`."""
    if isinstance(body, list):
        return [rpc_answer(item, result) for item in body]
    return {"jsonrpc": "2.0", "id": body["id"], "result": result(body["method"], body["params"])}


def rpc_handler(result: Callable[[str, list[Any]], Any]) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.json_response(rpc_answer(await request.json(), result))

    return handle


Serve = Callable[[Handler], Awaitable[LocalServer]]


async def start_server(handler: Handler) -> LocalServer:
    """A real aiohttp server on a free loopback port; stop it with `server.runner.cleanup()`."""
    holder: list[LocalServer] = []

    async def counted(request: web.Request) -> web.StreamResponse:
        server = holder[0]
        server.hits += 1
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            server.peers.add(peer[1])
        return await handler(request)

    app = web.Application()
    app.router.add_post("/{tail:.*}", counted)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = LocalServer(runner, f"http://127.0.0.1:{port}")
    holder.append(server)
    return server


def tiny_node(method: str, params: list[Any]) -> Any:
    """A tiny node: eth_blockNumber is 0x10; any other method returns its params."""
    if method == "eth_blockNumber":
        return "0x10"
    return json.loads(json.dumps(params))
