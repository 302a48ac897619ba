"""The chain client against a real anvil: HTTP, batches, failover, bad answers, ws, multicall."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from tallyio.chain import (
    AllEndpointsFailedError,
    BadAnswerError,
    ChainClient,
    HttpTransport,
    RpcClient,
    RpcError,
    RpcTransportError,
    build_client,
    call,
)
from tallyio.chain.middleware import RetryPolicy, RpcMetrics
from tallyio.chain.multicall import (
    Call,
    MulticallError,
    Result,
    block_number_call,
    decode_uint,
    eth_balance_call,
    multicall,
)
from tallyio.chain.ws import logs, new_heads, pending_transactions
from tallyio.devnet.context import forge_build
from tallyio.devnet.deployer import Deployer, DeployError, load_forge_artifact
from tallyio.devnet.node import AnvilNode, free_port, start_anvil, stop_pid

pytestmark = pytest.mark.devnet

NO_RETRY = RetryPolicy(attempts=1)
TOPIC = "0x" + "ab" * 32
# Init code that stores 42 at memory 0, emits LOG1(mem[0:32], TOPIC) and deploys empty code.
LOG1_INIT = "0x602a600052" + "7f" + "ab" * 32 + "60206000a100"
WAIT = 10.0  # seconds a test waits for a notification


@pytest.fixture(scope="module")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    node = start_anvil(tmp_path_factory.mktemp("chain-anvil"))
    try:
        yield node
    finally:
        stop_pid(node.pid)


@pytest.fixture(scope="module")
def multicall_address(anvil: AnvilNode) -> str:
    try:
        forge_build()
    except DeployError:
        # Another contract mid-edit must not stop these tests if Multicall is already built.
        load_forge_artifact("Multicall")
    artifact = load_forge_artifact("Multicall")
    return str(Deployer(anvil.rpc_url, anvil.accounts[0].address).deploy(artifact).address)


@pytest.fixture
async def client(anvil: AnvilNode) -> AsyncIterator[ChainClient]:
    c = build_client(anvil.rpc_url, rpc_metrics=RpcMetrics(CollectorRegistry()))
    try:
        yield c
    finally:
        await c.close()


async def mined(client: RpcClient, tx: str) -> dict[str, Any]:
    """The receipt of `tx`, once anvil has committed its block.

    With automine, anvil answers eth_sendTransaction while it is still committing the block:
    a read "at the latest number" in that moment can see the new state under the old number.
    """
    for _ in range(200):
        receipt = await client.request("eth_getTransactionReceipt", [tx])
        if receipt is not None:
            return dict(receipt)
        await asyncio.sleep(0.01)
    raise AssertionError(f"{tx} not mined")


async def test_block_number_and_chain_id(client: RpcClient, anvil: AnvilNode) -> None:
    assert int(await client.request("eth_chainId"), 16) == anvil.chain_id == 31337
    before = int(await client.request("eth_blockNumber"), 16)
    await client.request("anvil_mine", ["0x2"])
    assert int(await client.request("eth_blockNumber"), 16) == before + 2


async def test_batch_of_fifty(client: RpcClient, anvil: AnvilNode) -> None:
    accounts = [a.address for a in anvil.accounts]
    calls: list[tuple[str, list[Any]]] = []
    for i in range(50):
        if i % 2:
            calls.append(("eth_getBalance", [accounts[i % len(accounts)], "latest"]))
        else:
            calls.append(("eth_chainId", []))
    got = await client.batch(calls)
    singles = [await client.request(m, p) for m, p in calls]
    assert got == singles and len(got) == 50
    with pytest.raises(RpcError) as info:
        await client.batch([("eth_chainId", []), ("eth_noSuchMethod", [])])
    assert info.value.method == "eth_noSuchMethod"


async def test_node_error_is_typed(client: RpcClient) -> None:
    with pytest.raises(RpcError) as info:  # init code 0xfe: the INVALID opcode
        await client.request("eth_call", [{"data": "0xfe"}, "latest"])
    assert info.value.code != 0 and info.value.method == "eth_call"


async def test_unreachable_endpoint_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    transport = HttpTransport(url)
    with pytest.raises(RpcTransportError) as info:
        await transport(call("eth_blockNumber"))
    await transport.close()
    assert str(info.value).startswith(f"eth_blockNumber at {url}: ")
    c = build_client(
        url,
        retry_policy=RetryPolicy(attempts=2, base_delay=0.01),
        rpc_metrics=RpcMetrics(CollectorRegistry()),
    )
    async with c:
        with pytest.raises(
            AllEndpointsFailedError, match=f"eth_blockNumber: all 1 endpoints failed: {url}: "
        ):
            await c.request("eth_blockNumber")


async def test_failover_skips_a_dead_endpoint(anvil: AnvilNode) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    c = build_client(
        [dead, anvil.rpc_url], retry_policy=NO_RETRY, rpc_metrics=RpcMetrics(CollectorRegistry())
    )
    async with c:
        assert int(await c.request("eth_chainId"), 16) == anvil.chain_id
        health = c.health()
        assert [h.endpoint for h in health] == [dead, anvil.rpc_url]
        assert [h.healthy for h in health] == [False, True]
        assert health[0].failures == 1 and "Connect" in (health[0].last_error or "")
        assert len(await c.batch([("eth_blockNumber", [])] * 3)) == 3  # no retry of the dead one
        assert c.health()[0].failures == 1


@contextlib.asynccontextmanager
async def garbage_server() -> AsyncIterator[str]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text='{"jsonrpc": "2.0", "id": 1, "result": 0x12')

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_malformed_json_answer_is_a_clear_error(anvil: AnvilNode) -> None:
    async with garbage_server() as url:
        c = build_client(url, retry_policy=NO_RETRY, rpc_metrics=RpcMetrics(CollectorRegistry()))
        async with c:
            with pytest.raises(RpcTransportError) as info:
                await c.request("eth_blockNumber")
        assert f"{url}: bad RPC answer: not JSON" in str(info.value)
        transport = HttpTransport(url)
        with pytest.raises(BadAnswerError, match=f"eth_getBalance at {url}: bad RPC answer"):
            await transport(call("eth_getBalance"))
        await transport.close()
        # Failover moves past the garbage to anvil.
        c = build_client(
            [url, anvil.rpc_url], retry_policy=NO_RETRY, rpc_metrics=RpcMetrics(CollectorRegistry())
        )
        async with c:
            assert int(await c.request("eth_chainId"), 16) == anvil.chain_id
            assert [h.healthy for h in c.health()] == [False, True]


async def test_metrics_per_method(anvil: AnvilNode) -> None:
    registry = CollectorRegistry()
    async with build_client(anvil.rpc_url, rpc_metrics=RpcMetrics(registry)) as c:
        for _ in range(3):
            await c.request("eth_blockNumber")
        await c.request("eth_chainId")
        await c.batch([("eth_chainId", [])] * 5)
        with pytest.raises(RpcError):
            await c.request("eth_noSuchMethod")

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"endpoint": anvil.rpc_url, **labels})

    count = "tallyio_rpc_request_seconds_count"
    assert value(count, method="eth_blockNumber") == 3
    assert value(count, method="eth_chainId") == 1
    assert value(count, method="batch") == 1
    assert value("tallyio_rpc_errors_total", method="eth_noSuchMethod", kind="RpcError") == 1
    assert (value("tallyio_rpc_request_seconds_sum", method="eth_blockNumber") or 0) > 0


async def test_ws_new_heads_sees_mined_blocks(client: RpcClient, anvil: AnvilNode) -> None:
    async with new_heads(anvil.ws_url) as heads:
        start = int(await client.request("eth_blockNumber"), 16)
        await client.request("anvil_mine", ["0x3"])
        seen = [int((await asyncio.wait_for(anext(heads), WAIT))["number"], 16) for _ in range(3)]
    assert seen == [start + 1, start + 2, start + 3]


async def test_ws_logs_sees_a_log(client: RpcClient, anvil: AnvilNode) -> None:
    sender = anvil.accounts[1].address
    async with logs(anvil.ws_url, {"topics": [TOPIC]}) as stream:
        tx = await client.request("eth_sendTransaction", [{"from": sender, "data": LOG1_INIT}])
        log = await asyncio.wait_for(anext(stream), WAIT)
    receipt = await client.request("eth_getTransactionReceipt", [tx])
    assert log["topics"] == [TOPIC]
    assert int(log["data"], 16) == 42
    assert log["transactionHash"] == tx
    assert log["address"] == receipt["contractAddress"]


async def test_ws_pending_transactions(client: RpcClient, anvil: AnvilNode) -> None:
    sender, to = anvil.accounts[2].address, anvil.accounts[3].address
    await client.request("evm_setAutomine", [False])
    try:
        async with pending_transactions(anvil.ws_url) as pending:
            tx = await client.request(
                "eth_sendTransaction", [{"from": sender, "to": to, "value": "0x1"}]
            )
            assert await client.request("eth_getTransactionReceipt", [tx]) is None  # not mined
            assert await asyncio.wait_for(anext(pending), WAIT) == tx
    finally:
        await client.request("evm_setAutomine", [True])
        await client.request("anvil_mine", ["0x1"])
    assert (await client.request("eth_getTransactionReceipt", [tx]))["status"] == "0x1"


async def test_multicall_matches_direct_calls(
    client: RpcClient, anvil: AnvilNode, multicall_address: str
) -> None:
    accounts = [a.address for a in anvil.accounts]
    calls = [block_number_call(multicall_address)]
    calls += [eth_balance_call(multicall_address, a) for a in accounts]
    results = await multicall(client, multicall_address, calls, chunk_size=6)  # 4 chunks
    assert len(results) == len(accounts) + 1 and all(r.success for r in results)
    head = int(await client.request("eth_blockNumber"), 16)
    assert decode_uint(results[0]) == head
    direct = await client.batch([("eth_getBalance", [a, hex(head)]) for a in accounts])
    assert [decode_uint(r) for r in results[1:]] == [int(b, 16) for b in direct]


async def test_multicall_is_pinned_to_one_block(
    client: RpcClient, anvil: AnvilNode, multicall_address: str
) -> None:
    rich, poor = anvil.accounts[4].address, anvil.accounts[5].address
    before = int(await client.request("eth_blockNumber"), 16)
    tx = await client.request(
        "eth_sendTransaction", [{"from": rich, "to": poor, "value": hex(10**18)}]
    )
    assert int((await mined(client, tx))["blockNumber"], 16) == before + 1
    calls = [block_number_call(multicall_address)] + [eth_balance_call(multicall_address, poor)] * 3
    old = await multicall(client, multicall_address, calls, block=before, chunk_size=1)
    new = await multicall(client, multicall_address, calls, chunk_size=1)
    assert [decode_uint(r) for r in old] == [before] + [10**24] * 3  # anvil's --balance 1000000
    assert [decode_uint(r) for r in new] == [before + 1] + [10**24 + 10**18] * 3


async def test_multicall_failures(client: RpcClient, multicall_address: str) -> None:
    unknown = bytes.fromhex("deadbeef")  # no such function and no fallback: reverts
    calls = [block_number_call(multicall_address), Call(multicall_address, unknown, True)]
    results = await multicall(client, multicall_address, calls)
    assert results[1] == Result(False, b"")
    strict = [*calls[:1], *calls[:1], Call(multicall_address, unknown, False)]
    with pytest.raises(MulticallError, match="call 2 failed") as info:
        await multicall(client, multicall_address, strict, chunk_size=2)
    assert info.value.index == 2
    assert await multicall(client, multicall_address, []) == []
