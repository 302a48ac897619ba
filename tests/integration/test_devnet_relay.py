"""The devnet relay on the session devnet: bundles land whole, in order, or leave no trace."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from tallyio.devnet.relay import DevnetRelay
from tallyio.execution.bundles import HEADER, MevBodyItem
from tallyio.execution.relays import RelayClient, RelayMetrics
from tallyio.execution.signer import SecretKey, Signer, tx_hash

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py

pytestmark = pytest.mark.devnet

GWEI = 10**9
USDC = 10**6
TRANSFER = bytes.fromhex("a9059cbb")  # transfer(address,uint256)


@pytest.fixture
async def relay(chain: Devnet) -> AsyncIterator[DevnetRelay]:
    async with DevnetRelay(chain.rpc_url) as r:
        yield r


@pytest.fixture
async def client(relay: DevnetRelay) -> AsyncIterator[RelayClient]:
    reputation = Signer(SecretKey.generate())  # never a key that holds funds
    async with RelayClient([relay.url], reputation,
                           metrics=RelayMetrics(CollectorRegistry())) as c:  # fmt: skip
        yield c


class Wallet:
    """Signs raw transactions for one devnet account, tracking its nonce locally."""

    def __init__(self, chain: Devnet, name: str) -> None:
        self.chain = chain
        self.signer = Signer(SecretKey.from_hex(chain.manifest["accounts"][name]["private_key"]))
        self.address = self.signer.address
        self.nonce = self.chain_nonce()

    def chain_nonce(self) -> int:
        return int(self.chain.d.rpc("eth_getTransactionCount", self.address, "latest"), 16)

    def tx(self, to: str, data: bytes = b"", value: int = 0, max_fee: int = 50 * GWEI,
           gas: int = 100_000) -> bytes:  # fmt: skip
        raw = self.signer.sign_eip1559(
            chain_id=self.chain.manifest["chain_id"], nonce=self.nonce, gas=gas, to=to,
            max_fee_per_gas=max_fee, max_priority_fee_per_gas=GWEI, value=value, data=data,
        )  # fmt: skip
        self.nonce += 1
        return raw


def transfer_data(to: str, amount: int) -> bytes:
    return TRANSFER + bytes(12) + bytes.fromhex(to[2:]) + amount.to_bytes(32, "big")


def usdc_of(chain: Devnet, who: str) -> int:
    return int(chain.context().tokens["USDC"].functions.balanceOf(who).call())


def head(chain: Devnet) -> int:
    return chain.d.block_number()


async def settled(relay: DevnetRelay, bundle: str) -> str:
    """What became of a bundle, once the relay has built (or passed) its block."""
    async with asyncio.timeout(15):
        while True:
            outcome = relay.outcomes.get(bundle, "queued")
            if not outcome.startswith("queued"):
                return outcome
            await asyncio.sleep(0.02)


async def test_a_bundle_of_two_lands_in_one_block_in_order(
    chain: Devnet, relay: DevnetRelay, client: RelayClient
) -> None:
    """The second transaction spends what the first one pays in: it only works in order."""
    ctx, trader, searcher = chain.context(), Wallet(chain, "trader"), Wallet(chain, "searcher")
    usdc = ctx.tokens["USDC"].address
    ctx.fund("USDC", trader.address, 100 * USDC)
    lp = chain.account("lp")
    before = usdc_of(chain, lp)
    first = trader.tx(usdc, transfer_data(searcher.address, 100 * USDC), max_fee=60 * GWEI)
    second = searcher.tx(usdc, transfer_data(lp, 100 * USDC), max_fee=50 * GWEI)
    target = head(chain) + 1
    (result,) = await client.send_bundle([first, second], target)
    assert result.ok, result.error
    assert "included in block" in await settled(relay, result.bundle_hash or "")
    block = chain.d.rpc("eth_getBlockByNumber", hex(target), False)
    assert block["transactions"] == [tx_hash(first), tx_hash(second)]
    for raw in (first, second):
        receipt = chain.d.rpc("eth_getTransactionReceipt", tx_hash(raw))
        assert receipt["status"] == "0x1" and int(receipt["blockNumber"], 16) == target
    assert usdc_of(chain, lp) == before + 100 * USDC
    assert chain.d.rpc("anvil_getAutomine") is True  # the relay put automine back


async def test_a_bundle_whose_second_tx_reverts_lands_nothing(
    chain: Devnet, relay: DevnetRelay, client: RelayClient
) -> None:
    ctx, searcher, trader = chain.context(), Wallet(chain, "searcher"), Wallet(chain, "trader")
    usdc = ctx.tokens["USDC"].address
    lp = chain.account("lp")
    eth_before = int(chain.d.rpc("eth_getBalance", lp, "latest"), 16)
    nonce_before = searcher.chain_nonce()
    pays = searcher.tx(lp, value=10**18, max_fee=60 * GWEI)
    too_much = usdc_of(chain, trader.address) + 1  # more than the trader holds: reverts
    fails = trader.tx(usdc, transfer_data(lp, too_much), max_fee=50 * GWEI)
    target = head(chain) + 1
    (result,) = await client.send_bundle([pays, fails], target)
    assert result.ok, result.error
    outcome = await settled(relay, result.bundle_hash or "")
    assert outcome.startswith("not included") and "tx 1" in outcome and "reverted" in outcome
    assert head(chain) == target  # the block was built, without the bundle
    assert chain.d.rpc("eth_getBlockByNumber", hex(target), False)["transactions"] == []
    assert chain.d.rpc("eth_getTransactionReceipt", tx_hash(pays)) is None
    assert searcher.chain_nonce() == nonce_before  # the first tx left no trace
    assert int(chain.d.rpc("eth_getBalance", lp, "latest"), 16) == eth_before
    assert chain.d.rpc("txpool_status")["pending"] == "0x0"


async def test_a_bundle_against_fee_order_still_lands_in_its_order(
    chain: Devnet, relay: DevnetRelay, client: RelayClient
) -> None:
    """The backrun shape: a cheap user tx first, our dearer one after; anvil's pool would swap
    them, the relay must not."""
    searcher, trader = Wallet(chain, "searcher"), Wallet(chain, "trader")
    lp = chain.account("lp")
    cheap = trader.tx(lp, value=1, max_fee=20 * GWEI)
    dear = searcher.tx(lp, value=1, max_fee=80 * GWEI)  # anvil alone would mine this first
    target = head(chain) + 1
    (result,) = await client.send_bundle([cheap, dear], target)
    outcome = await settled(relay, result.bundle_hash or "")
    assert outcome == f"included in block {target}"
    block = chain.d.rpc("eth_getBlockByNumber", hex(target), False)
    assert [h.lower() for h in block["transactions"]] == [tx_hash(cheap), tx_hash(dear)]


async def test_mev_share_bundle_lands_with_a_tx_allowed_to_revert(
    chain: Devnet, relay: DevnetRelay, client: RelayClient
) -> None:
    ctx, searcher, trader = chain.context(), Wallet(chain, "searcher"), Wallet(chain, "trader")
    lp = chain.account("lp")
    pays = searcher.tx(lp, value=12345, max_fee=60 * GWEI)
    too_much = usdc_of(chain, trader.address) + 1
    fails = trader.tx(ctx.tokens["USDC"].address, transfer_data(lp, too_much), max_fee=50 * GWEI)
    target = head(chain) + 1
    body = [MevBodyItem(tx=pays), MevBodyItem(tx=fails, can_revert=True)]
    (result,) = await client.send_mev_bundle(body, target, max_block=target + 2)
    assert result.ok, result.error
    assert "included" in await settled(relay, result.bundle_hash or "")
    statuses = [chain.d.rpc("eth_getTransactionReceipt", tx_hash(r))["status"] for r in body_raws(
        body)]  # fmt: skip
    assert statuses == ["0x1", "0x0"]


def body_raws(body: list[MevBodyItem]) -> list[bytes]:
    return [item.tx for item in body if item.tx is not None]


async def test_call_bundle_reports_a_revert_and_changes_nothing(
    chain: Devnet, relay: DevnetRelay, client: RelayClient
) -> None:
    ctx, searcher, trader = chain.context(), Wallet(chain, "searcher"), Wallet(chain, "trader")
    lp = chain.account("lp")
    pays = searcher.tx(lp, value=10**18, max_fee=60 * GWEI)
    too_much = usdc_of(chain, trader.address) + 1
    fails = trader.tx(ctx.tokens["USDC"].address, transfer_data(lp, too_much), max_fee=50 * GWEI)
    number, nonce = head(chain), searcher.chain_nonce()
    (result,) = await client.call_bundle([pays, fails], number + 1)
    assert result.ok, result.error
    answer = result.result
    first, second = answer["results"]
    assert "error" not in first and first["gasUsed"] == 21_000 and first["value"] == "0x"
    assert second["error"] == "execution reverted"
    assert second["revert"] == "ERC20: transfer amount exceeds balance"
    assert answer["totalGasUsed"] == first["gasUsed"] + second["gasUsed"]
    assert int(answer["gasFees"]) == sum(int(r["gasFees"]) for r in (first, second)) > 0
    assert answer["coinbaseDiff"] == answer["gasFees"] and answer["ethSentToCoinbase"] == "0"
    assert answer["stateBlockNumber"] == number and answer["bundleHash"] == result.result[
        "bundleHash"]  # fmt: skip
    assert head(chain) == number and searcher.chain_nonce() == nonce  # nothing happened


@pytest.mark.parametrize("header", [None, "garbage", "tampered", "impostor"])
async def test_requests_without_a_valid_signature_are_refused(
    chain: Devnet, relay: DevnetRelay, header: str | None
) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_sendBundle", "params": [
        {"txs": ["0x" + Wallet(chain, "searcher").tx(chain.account("lp")).hex()],
         "blockNumber": hex(head(chain) + 1)}]}).encode()  # fmt: skip
    signer = Signer(SecretKey.generate())
    headers = {"Content-Type": "application/json"}
    if header == "garbage":
        headers[HEADER] = "0x1234:0xdeadbeef"
    elif header == "tampered":  # signed over another body
        headers[HEADER] = signer.flashbots_signature(body + b" ")
    elif header == "impostor":  # a valid signature, claimed for another address
        headers[HEADER] = chain.account("lp") + ":" + signer.flashbots_signature(body).split(":")[1]
    async with (
        aiohttp.ClientSession() as session,
        session.post(relay.url, data=body, headers=headers) as resp,
    ):
        answer: dict[str, Any] = await resp.json()
    assert resp.status == 403
    assert answer["error"]["code"] == -32600 and HEADER in answer["error"]["message"]
    assert relay.outcomes == {}


async def test_unknown_methods_and_bad_params_are_json_rpc_errors(
    relay: DevnetRelay, client: RelayClient
) -> None:
    (unknown,) = await client.call("eth_sendPrivateTransaction", [{"tx": "0x00"}])
    assert unknown.kind == "rpc" and "-32601" in (unknown.error or "")
    (bad,) = await client.call("eth_sendBundle", [{"txs": [], "blockNumber": "0x1"}])
    assert bad.kind == "rpc" and "at least one transaction" in (bad.error or "")


def test_cli_serves_until_terminated(chain: Devnet) -> None:
    cmd = [sys.executable, "-m", "tallyio.devnet.relay_cli", "relay", "--rpc", chain.rpc_url,
           "--json"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = json.loads(proc.stdout.readline())["url"]
        assert url.startswith("http://127.0.0.1:")

        async def call() -> Any:
            async with RelayClient([url], Signer(SecretKey.generate()),
                                   metrics=RelayMetrics(CollectorRegistry())) as c:  # fmt: skip
                raw = Wallet(chain, "searcher").tx(chain.account("lp"), value=1)
                return (await c.call_bundle([raw], head(chain) + 1))[0]

        result = asyncio.run(call())
        assert result.ok, result.error
        assert result.result["results"][0]["gasUsed"] == 21_000
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""


def test_cli_fails_fast_when_the_node_does_not_answer() -> None:
    cmd = [sys.executable, "-m", "tallyio.devnet.relay_cli", "relay", "--rpc",
           "http://127.0.0.1:9"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "tallyio: error: eth_chainId" in proc.stderr
    assert proc.stdout == ""
