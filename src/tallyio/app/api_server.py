"""The API served beside a running engine: uvicorn in the engine's own event loop, on loopback.

    async with serve_api(running, keys, port=8700, live=False) as server:
        ... server.url, server.control ...

`tallyio run --api-port` and the dashboard test both use it. uvicorn's access log is off (a
WebSocket URL may carry `?key=`) and it leaves signals alone: Ctrl-C stops the whole run, not
only the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import uvicorn

from tallyio.api.app import create_app
from tallyio.api.auth import KeyRing
from tallyio.app.control import RunningControl
from tallyio.app.runner import Running

LOOPBACK = "127.0.0.1"


class ApiServeError(RuntimeError):
    """The API could not be served (no journal, or the port would not open)."""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the run owns Ctrl-C; uvicorn would swallow it and stop only itself


@dataclass(frozen=True, slots=True)
class ApiServer:
    url: str  # http://127.0.0.1:PORT
    control: RunningControl


@contextlib.asynccontextmanager
async def serve_api(
    running: Running, keys: KeyRing, *, port: int = 0, live: bool = False,
    chain: str = "devnet", host: str = LOOPBACK, poll_interval: float = 1.0,
) -> AsyncIterator[ApiServer]:  # fmt: skip
    """Serve the API over `running` until the block exits (port 0: a free one)."""
    if running.journal is None:
        raise ApiServeError("the API reads the journal: run the engine with one")
    control = RunningControl(running, live=live, chain=chain, poll_interval=poll_interval)
    app = create_app(running.journal, keys, control, chain=chain)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="on")  # fmt: skip
    server = _Server(config)
    sock = _bind(host, port)  # bound here, so a taken port is an error, not uvicorn's exit
    task = asyncio.create_task(server.serve(sockets=[sock]), name="api")
    try:
        while not server.started:
            if task.done():
                await task  # its exception, if it raised one
                raise ApiServeError(f"the API did not start on {host}:{port}")
            await asyncio.sleep(0.02)
        yield ApiServer(f"http://{host}:{sock.getsockname()[1]}", control)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ApiServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock
