"""Fixtures for the chain-client unit tests: local servers, stopped after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from chain_servers import Handler, LocalServer, Serve, start_server


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start servers with `await serve(handler)`; all are stopped after the test."""
    servers: list[LocalServer] = []

    async def start(handler: Handler) -> LocalServer:
        server = await start_server(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.runner.cleanup()
