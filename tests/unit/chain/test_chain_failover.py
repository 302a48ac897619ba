"""Failover: priority order, cooldown, recovery, and a clear error when all endpoints fail."""

from __future__ import annotations

import pytest
from aiohttp import web
from chain_servers import LocalServer, Serve, free_port, rpc_handler, tiny_node

from tallyio.chain.errors import AllEndpointsFailedError, RpcError
from tallyio.chain.middleware.failover import Failover
from tallyio.chain.rpc import HttpTransport, RpcCall


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Switch:
    """A server that fails with 503 until `up` is set."""

    def __init__(self) -> None:
        self.up = False

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        if not self.up:
            return web.Response(status=503, text="down for maintenance")
        body = await request.json()
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": "primary"})


def make_failover(
    urls: list[str], clock: Clock, cooldown: float = 30.0
) -> tuple[Failover, list[HttpTransport]]:
    transports = [HttpTransport(u, timeout=2.0) for u in urls]
    return Failover([(t.url, t) for t in transports], cooldown=cooldown, clock=clock), transports


async def close(transports: list[HttpTransport]) -> None:
    for t in transports:
        await t.close()


async def test_skips_failed_endpoint_during_cooldown_and_recovers(serve: Serve) -> None:
    switch = Switch()
    primary: LocalServer = await serve(switch)
    backup = await serve(rpc_handler(tiny_node))
    clock = Clock()
    failover, transports = make_failover([primary.url, backup.url], clock)
    block = RpcCall("eth_blockNumber")
    try:
        assert await failover(block) == "0x10"
        health = failover.health()
        assert [h.healthy for h in health] == [False, True]
        assert health[0].unhealthy_until == 1030.0 and health[0].failures == 1
        assert "HTTP 503" in (health[0].last_error or "")

        clock.now += 29.0  # still cooling down: the primary is not even asked
        assert await failover(block) == "0x10"
        assert (primary.hits, backup.hits) == (1, 2)

        switch.up = True
        clock.now += 1.0  # cooldown over: primary first again, and it recovers
        assert await failover(block) == "primary"
        assert [h.healthy for h in failover.health()] == [True, True]
        assert failover.health()[0].failures == 0
        assert (primary.hits, backup.hits) == (2, 2)
    finally:
        await close(transports)


async def test_dead_port_is_skipped(serve: Serve) -> None:
    backup = await serve(rpc_handler(tiny_node))
    dead = f"http://127.0.0.1:{free_port()}"
    failover, transports = make_failover([dead, backup.url], Clock())
    try:
        assert await failover(RpcCall("eth_blockNumber")) == "0x10"
        assert failover.health()[0].healthy is False
        assert "ClientConnectorError" in (failover.health()[0].last_error or "")
    finally:
        await close(transports)


async def test_all_failing_lists_each_endpoint(serve: Serve) -> None:
    broken = await serve(Switch())
    dead = f"http://user:pw123456@127.0.0.1:{free_port()}"
    failover, transports = make_failover([dead, broken.url], Clock())
    try:
        with pytest.raises(AllEndpointsFailedError) as info:
            await failover(RpcCall("eth_chainId"))
        text = str(info.value)
        assert text.startswith("eth_chainId: all 2 endpoints failed: http://***@127.0.0.1:")
        assert f"{broken.url}: HTTP 503" in text and "pw123456" not in text
        assert [e for e, _ in info.value.failures] == [
            "http://***@" + dead.split("@")[1],
            broken.url,
        ]
        # Both cooling down: they are still tried as a last resort, soonest-recovering first.
        with pytest.raises(AllEndpointsFailedError):
            await failover(RpcCall("eth_chainId"))
        assert broken.hits == 2
    finally:
        await close(transports)


async def test_node_error_is_not_failed_over(serve: Serve) -> None:
    async def reverts(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        error = {"code": 3, "message": "execution reverted"}
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": error})

    primary = await serve(reverts)
    backup = await serve(rpc_handler(tiny_node))
    failover, transports = make_failover([primary.url, backup.url], Clock())
    try:
        with pytest.raises(RpcError):
            await failover(RpcCall("eth_call", ({}, "latest")))
        assert backup.hits == 0 and failover.health()[0].healthy
    finally:
        await close(transports)


def test_needs_an_endpoint() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Failover([])
