"""HttpTransport and RpcClient against small real servers: ordering, bad answers, keep-alive."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
from aiohttp import web
from chain_servers import Serve, free_port, rpc_handler, tiny_node

from tallyio.chain.errors import BadAnswerError, RateLimitedError, RpcError, RpcTransportError
from tallyio.chain.rpc import HttpTransport, RpcClient, call


def client_for(url: str, timeout: float = 5.0, max_batch: int = 500) -> RpcClient:
    transport = HttpTransport(url, timeout=timeout)
    return RpcClient(transport, [transport.close], max_batch=max_batch)


async def test_request_and_keep_alive(serve: Serve) -> None:
    server = await serve(rpc_handler(tiny_node))
    async with client_for(server.url) as client:
        for _ in range(5):
            assert await client.request("eth_blockNumber") == "0x10"
        assert await client.request("echo", [1, "a"]) == [1, "a"]
    assert server.hits == 6
    assert len(server.peers) == 1  # one kept-alive connection


async def test_batch_results_follow_call_order(serve: Serve) -> None:
    async def shuffled(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        answer = [{"jsonrpc": "2.0", "id": b["id"], "result": b["params"][0]} for b in body]
        random.Random(7).shuffle(answer)
        return web.json_response(answer)

    server = await serve(shuffled)
    async with client_for(server.url, max_batch=7) as client:
        got = await client.batch([("echo", [i]) for i in range(50)])
        assert got == list(range(50))
        assert await client.batch([]) == []
    assert server.hits == 8  # 50 calls in batches of at most 7


async def test_batch_item_errors(serve: Serve) -> None:
    async def one_fails(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        answer: list[dict[str, Any]] = []
        for b in body:
            if b["method"] == "eth_call":
                err = {"code": 3, "message": "execution reverted", "data": "0xdead"}
                answer.append({"jsonrpc": "2.0", "id": b["id"], "error": err})
            else:
                answer.append({"jsonrpc": "2.0", "id": b["id"], "result": "0x1"})
        return web.json_response(answer)

    server = await serve(one_fails)
    async with client_for(server.url) as client:
        calls = [call("eth_chainId"), call("eth_call", {}, "latest"), call("eth_chainId")]
        with pytest.raises(RpcError) as info:
            await client.batch(calls)
        assert info.value.method == "eth_call" and info.value.data == "0xdead"
        assert "batch item 1 of 3" in (info.value.__notes__ or [])
        got = await client.batch(calls, raise_errors=False)
        assert got[0] == got[2] == "0x1" and isinstance(got[1], RpcError)


def respond(status: int, text: str, headers: dict[str, str] | None = None) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=text, headers=headers)

    return handler


@pytest.mark.parametrize(
    ("status", "text", "error", "words"),
    [
        (200, "{not json", BadAnswerError, "bad RPC answer: not JSON: '{not json'"),
        (200, '{"jsonrpc": "2.0", "id": 1}', BadAnswerError, "no result and no error"),
        (200, '{"jsonrpc": "2.0", "id": 99, "result": "0x1"}', BadAnswerError, "answer id 99"),
        (200, '["a"]', BadAnswerError, "not a JSON-RPC object"),
        (500, "upstream exploded", RpcTransportError, "HTTP 500: 'upstream exploded'"),
        (502, '{"error": {"code": -32603, "message": "x"}}', RpcTransportError, "HTTP 502"),
        (404, "<html>nope</html>", RpcTransportError, "HTTP 404"),
    ],
)
async def test_bad_answers_name_endpoint_and_method(
    serve: Serve, status: int, text: str, error: type[Exception], words: str
) -> None:
    server = await serve(respond(status, text))
    async with client_for(server.url) as client:
        with pytest.raises(error) as info:
            await client.request("eth_blockNumber")
    assert str(info.value).startswith(f"eth_blockNumber at {server.url}: ")
    assert words in str(info.value)


async def test_error_answer_with_4xx_is_the_nodes_answer(serve: Serve) -> None:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "bad params"}}
    )
    server = await serve(respond(400, body))
    async with client_for(server.url) as client:
        with pytest.raises(RpcError, match="bad params"):
            await client.request("eth_getBalance", ["0x0"])


async def test_bad_batch_answers(serve: Serve) -> None:
    server = await serve(respond(200, '[{"jsonrpc": "2.0", "id": 1, "result": "0x1"}]'))
    async with client_for(server.url) as client:
        with pytest.raises(BadAnswerError, match="1 of 2 ids unanswered"):
            await client.batch([("a", []), ("b", [])])
    too_large = {"code": -32600, "message": "batch too large"}
    server = await serve(
        respond(200, json.dumps({"jsonrpc": "2.0", "id": None, "error": too_large}))
    )
    async with client_for(server.url) as client:
        with pytest.raises(RpcError, match="batch too large"):
            await client.batch([("a", []), ("b", [])])


async def test_http_429_is_rate_limited_with_hint(serve: Serve) -> None:
    server = await serve(respond(429, "slow down", {"Retry-After": "1.5"}))
    async with client_for(server.url) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.request("eth_blockNumber")
    assert info.value.retry_after == 1.5


async def test_hang_times_out(serve: Serve) -> None:
    async def hang(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response(text="late")

    server = await serve(hang)
    async with client_for(server.url, timeout=0.2) as client:
        with pytest.raises(RpcTransportError, match=r"eth_chainId at .*: timed out after 0.2s"):
            await client.request("eth_chainId")


async def test_refused_connection_names_redacted_endpoint() -> None:
    port = free_port()
    url = f"http://carol:topsecret@127.0.0.1:{port}/v3/{'k' * 32}?apikey=hidden123"
    async with client_for(url) as client:
        with pytest.raises(RpcTransportError) as info:
            await client.request("eth_blockNumber")
    text = str(info.value)
    assert text.startswith(f"eth_blockNumber at http://***@127.0.0.1:{port}/v3/***?apikey=***: ")
    assert "topsecret" not in text and "hidden123" not in text and "k" * 32 not in text
    assert info.value.__cause__ is None
