"""WebSocket subscriptions against a local server we control: it drops the connection once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from chain_servers import free_port
from websockets.asyncio.server import Server, ServerConnection, serve

from tallyio.chain.errors import RpcError, RpcTransportError
from tallyio.chain.middleware.retry import RetryPolicy
from tallyio.chain.ws import Subscription, new_heads, pending_transactions

FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


class FlakyNode:
    """Serves eth_subscribe; each connection sends `per_connection` heads, then drops."""

    def __init__(self, per_connection: int = 2, reject: bool = False) -> None:
        self.per_connection = per_connection
        self.reject = reject
        self.subscribes: list[list[Any]] = []
        self.sent = 0

    async def __call__(self, ws: ServerConnection) -> None:
        request = json.loads(await ws.recv())
        self.subscribes.append(request["params"])
        if self.reject:
            error = {"code": -32602, "message": "invalid subscription"}
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}))
            return
        sub = f"0xsub{len(self.subscribes)}"
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": sub}))
        await ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "eth_subscription",
                    "params": {"subscription": "0xother", "result": "ignored"},
                }
            )
        )
        for _ in range(self.per_connection):
            head = {"number": hex(self.sent), "hash": "0x" + f"{self.sent:064x}"}
            self.sent += 1
            note = {"subscription": sub, "result": head}
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "method": "eth_subscription", "params": note})
            )
        await ws.close()  # the drop


async def running(handler: Any) -> tuple[Server, str]:
    port = free_port()
    server = await serve(handler, "127.0.0.1", port)
    return server, f"ws://127.0.0.1:{port}"


@pytest.fixture
async def stop_servers() -> AsyncIterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_reconnects_and_resubscribes(stop_servers: list[Server]) -> None:
    node = FlakyNode(per_connection=2)
    server, url = await running(node)
    stop_servers.append(server)
    seen: list[int] = []
    async with new_heads(url, policy=FAST) as heads:
        async for head in heads:
            seen.append(int(head["number"], 16))
            if len(seen) == 5:
                break
        assert heads.reconnects == 2
        assert heads.subscription_id == "0xsub3"
    assert seen == [0, 1, 2, 3, 4]
    assert node.subscribes == [["newHeads"]] * 3


async def test_decode_hook_and_params(stop_servers: list[Server]) -> None:
    node = FlakyNode(per_connection=1)
    server, url = await running(node)
    stop_servers.append(server)
    sub: Subscription[int] = Subscription(
        url, ["newHeads"], lambda h: int(h["number"], 16), policy=FAST
    )
    async with sub:
        assert await anext(sub) == 0
    async with pending_transactions(url, full=True, policy=FAST) as pending:
        await anext(pending)
    assert node.subscribes[-1] == ["newPendingTransactions", True]


async def test_subscribe_error_is_raised_not_retried(stop_servers: list[Server]) -> None:
    node = FlakyNode(reject=True)
    server, url = await running(node)
    stop_servers.append(server)
    with pytest.raises(RpcError, match="invalid subscription"):
        async with new_heads(url, policy=FAST):
            pass
    assert len(node.subscribes) == 1


async def test_gives_up_on_a_dead_endpoint() -> None:
    url = f"ws://127.0.0.1:{free_port()}/v2/{'x' * 24}"
    sub = new_heads(url, policy=FAST, open_timeout=1.0)
    with pytest.raises(RpcTransportError, match=r"gave up after 3 tries") as info:
        await asyncio.wait_for(anext(sub), 5)
    assert "x" * 24 not in str(info.value) and "/v2/***" in str(info.value)
    await sub.aclose()


async def test_closed_subscription_stops_iterating(stop_servers: list[Server]) -> None:
    node = FlakyNode(per_connection=100)
    server, url = await running(node)
    stop_servers.append(server)
    sub = new_heads(url, policy=FAST)
    await anext(sub)
    await sub.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(sub)
