"""The relay client against small local servers: request shapes, the signature header,
fan-out where each endpoint fails on its own, metrics. Plus what the executors compute without
a chain: Approved, judge, and the fast calldata encoder against the eth_abi reference."""

from __future__ import annotations

import asyncio
import json
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from eth_account import Account
from eth_account.messages import encode_defunct
from prometheus_client import CollectorRegistry

from tallyio.core.plan import (
    AaveLiquidation,
    BalancerSwap,
    FlashLoan,
    FlashSource,
    Plan,
    UniswapV2Swap,
    UniswapV3Swap,
    VenusLiquidation,
    decode_plan,
    encode_plan,
)
from tallyio.execution.bundles import (
    HEADER,
    MAX_BUNDLE_TXS,
    BundleError,
    MevBodyItem,
    SignatureError,
    bundle_hash,
    call_bundle_params,
    call_bundle_totals,
    mev_send_bundle_params,
    parse_send_bundle,
    send_bundle_params,
    verify_signature,
)
from tallyio.execution.calldata import fast_encode_plan
from tallyio.execution.executors import Approved, BundleExecutor
from tallyio.execution.fees import FeeCaps, Fees, fee_params
from tallyio.execution.nonce import NonceManager
from tallyio.execution.relays import RelayClient, RelayEndpoint, RelayMetrics
from tallyio.execution.signer import SecretKey, Signer, keccak256
from tallyio.execution.submit import gas_limit_for, judge, token_to_wei, wei_to_token
from tallyio.sim.outcome import Outcome, TxResult

KEY = SecretKey(bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"))
TX1, TX2 = b"\x02\xf8\x01", b"\x02\xf8\x02"
GWEI = 10**9
ADDR = [f"0x{i:040x}" for i in range(1, 6)]


# -- request bodies -----------------------------------------------------------------------------
def test_bundle_hash_is_keccak_of_the_concatenated_tx_hashes() -> None:
    assert bundle_hash([TX1, TX2]) == "0x" + keccak256(keccak256(TX1) + keccak256(TX2)).hex()
    assert bundle_hash([TX1, TX2]) != bundle_hash([TX2, TX1])


def test_send_bundle_params_carry_only_what_is_given() -> None:
    assert send_bundle_params([TX1, TX2], 100) == {
        "txs": ["0x02f801", "0x02f802"], "blockNumber": "0x64",
    }  # fmt: skip
    full = send_bundle_params([TX1], 100, min_timestamp=1, max_timestamp=2,
                              reverting_tx_hashes=["0xab"], replacement_uuid="u",
                              builders=["flashbots", "titan"])  # fmt: skip
    assert full == {"txs": ["0x02f801"], "blockNumber": "0x64", "minTimestamp": 1,
                    "maxTimestamp": 2, "revertingTxHashes": ["0xab"], "replacementUuid": "u",
                    "builders": ["flashbots", "titan"]}  # fmt: skip


def test_bundles_respect_the_relay_limits() -> None:
    with pytest.raises(BundleError, match="at least one"):
        send_bundle_params([], 1)
    with pytest.raises(ValueError, match="at most"):
        send_bundle_params([TX1] * (MAX_BUNDLE_TXS + 1), 1)
    with pytest.raises(ValueError, match="at most"):
        call_bundle_params([b"\x00" * 300_001], 1)


def test_call_bundle_params() -> None:
    assert call_bundle_params([TX1], 10) == {
        "txs": ["0x02f801"], "blockNumber": "0xa", "stateBlockNumber": "latest",
    }  # fmt: skip
    assert call_bundle_params([TX1], 10, state_block=9, timestamp=7)["stateBlockNumber"] == "0x9"


def test_mev_send_bundle_params_follow_mev_share_v0_1() -> None:
    body = [MevBodyItem(hash="0x" + "11" * 32), MevBodyItem(tx=TX1, can_revert=False)]
    params = mev_send_bundle_params(body, 100, max_block=102,
                                    refund=[{"bodyIdx": 0, "percent": 90}],
                                    hints=["hash", "logs"], builders=["flashbots"])  # fmt: skip
    assert params == {
        "version": "v0.1",
        "inclusion": {"block": "0x64", "maxBlock": "0x66"},
        "body": [{"hash": "0x" + "11" * 32}, {"tx": "0x02f801", "canRevert": False}],
        "validity": {"refund": [{"bodyIdx": 0, "percent": 90}], "refundConfig": []},
        "privacy": {"hints": ["hash", "logs"], "builders": ["flashbots"]},
    }
    assert set(mev_send_bundle_params([MevBodyItem(tx=TX1)], 5)) == {"version", "inclusion",
                                                                      "body"}  # fmt: skip
    with pytest.raises(ValueError, match="not both"):
        MevBodyItem(tx=TX1, hash="0x11")
    with pytest.raises(ValueError, match="not both"):
        MevBodyItem()


# -- the signature header ---------------------------------------------------------------------
def test_the_header_is_an_eip191_signature_over_the_hex_of_keccak_body() -> None:
    signer = Signer(KEY)
    client = RelayClient(["http://127.0.0.1:1"], signer, metrics=RelayMetrics(CollectorRegistry()))
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[]}'
    address, signature = client.sign(body)[HEADER].split(":")
    text = "0x" + keccak256(body).hex()
    assert address == signer.address
    assert Account.recover_message(encode_defunct(text=text), signature=signature) == address
    assert verify_signature(client.sign(body)[HEADER], body) == address
    for bad in (None, "", "nocolon", f"{address}:0x1234", client.sign(body + b" ")[HEADER]):
        with pytest.raises(SignatureError):
            verify_signature(bad, body)


def test_a_relay_reads_send_bundle_params_back() -> None:
    params = send_bundle_params([TX1, TX2], 100, max_timestamp=9,
                                reverting_tx_hashes=["0xAB"])  # fmt: skip
    bundle = parse_send_bundle(params)
    assert (bundle.txs, bundle.block, bundle.max_block) == ((TX1, TX2), 100, 100)
    assert bundle.reverting == {"0xab"} and bundle.max_timestamp == 9
    assert bundle.hash == bundle_hash([TX1, TX2])
    for bad in ({"txs": [], "blockNumber": "0x1"}, {"txs": ["0xzz"], "blockNumber": "0x1"},
                {"txs": ["0x01"]}):  # fmt: skip
        with pytest.raises(BundleError):
            parse_send_bundle(bad)


def test_call_bundle_totals_add_up_the_results() -> None:
    results = [
        {"gasUsed": 21_000, "coinbaseDiff": "42000", "gasFees": "42000", "ethSentToCoinbase": "0"},
        {"gasUsed": 50_000, "coinbaseDiff": "10100000", "gasFees": "100000",
         "ethSentToCoinbase": "10000000"},
    ]  # fmt: skip
    totals = call_bundle_totals(results, "0xbb", 7, "0x8")
    assert totals["totalGasUsed"] == 71_000 and totals["coinbaseDiff"] == "10142000"
    assert totals["gasFees"] == "142000" and totals["ethSentToCoinbase"] == "10000000"
    assert totals["bundleGasPrice"] == str(10_142_000 // 71_000)
    assert (totals["bundleHash"], totals["stateBlockNumber"]) == ("0xbb", 7)


def test_the_relay_key_must_not_be_the_funds_key() -> None:
    funds = Signer(KEY)

    async def send_raw(raw: bytes) -> str:
        raise AssertionError("never sent")

    nonces = NonceManager(object(), chain_id=1, address=funds.address,  # type: ignore[arg-type]
                          sign=funds.sign_transaction, send_raw=send_raw)  # fmt: skip
    metrics = RelayMetrics(CollectorRegistry())
    same = RelayClient(["http://127.0.0.1:1"], Signer(KEY), metrics=metrics)
    with pytest.raises(ValueError, match="reputation key"):
        BundleExecutor(object(), object(), nonces, funds, same,  # type: ignore[arg-type]
                       fee_params=fee_params("devnet"), caps=FeeCaps(1, 1))  # fmt: skip


# -- fan-out against local servers ------------------------------------------------------------
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_fan_out_reports_each_endpoint_on_its_own(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    seen: list[tuple[bytes, str]] = []

    async def good(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen.append((body, request.headers[HEADER]))
        rid = json.loads(body)["id"]
        return web.json_response({"jsonrpc": "2.0", "id": rid, "result": {"bundleHash": "0xbb"}})

    async def refuses(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen.append((body, request.headers[HEADER]))
        error = {"code": -32000, "message": "bundle too old"}
        return web.json_response({"jsonrpc": "2.0", "id": 1, "error": error})

    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=502, text="<html>bad gateway</html>")

    async def hangs(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(30)
        return web.Response()

    urls = [await serve(h) for h in (good, refuses, broken, hangs)]
    secret = "abcdefghijklmnopqrstuvwxyz0123"  # an API key in a URL path
    endpoints = [RelayEndpoint(urls[0], "good"), RelayEndpoint(urls[1], "refuses"),
                 RelayEndpoint(urls[2], "broken"), RelayEndpoint(urls[3], "hangs", timeout=0.3),
                 RelayEndpoint(f"http://127.0.0.1:{_free_port()}/{secret}")]  # fmt: skip
    registry = CollectorRegistry()
    reputation = Signer(KEY)
    async with RelayClient(endpoints, reputation, metrics=RelayMetrics(registry)) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = await client.send_bundle([TX1, TX2], 100)
        elapsed = loop.time() - started
    assert elapsed < 2.0  # the hanging builder costs its own timeout, nothing more
    assert [r.endpoint for r in results] == [e.name for e in endpoints]
    good_r, refused_r, broken_r, hung_r, dead_r = results
    assert good_r.ok and good_r.bundle_hash == "0xbb" and good_r.latency > 0
    assert (refused_r.kind, refused_r.error) == ("rpc", "error -32000: bundle too old")
    assert broken_r.kind == "http" and "502" in (broken_r.error or "")
    assert hung_r.kind == "timeout" and 0.3 <= hung_r.latency < 2.0
    assert dead_r.kind == "transport" and secret not in (dead_r.error or "") + dead_r.endpoint
    # One body, signed once, the same bytes to every endpoint.
    assert len(seen) == 2 and seen[0] == seen[1]
    body, header = seen[0]
    assert json.loads(body)["params"] == [send_bundle_params([TX1, TX2], 100)]
    assert verify_signature(header, body) == reputation.address

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    for e in endpoints:
        assert sample("tallyio_relay_request_seconds_count", endpoint=e.name,
                      method="eth_sendBundle") == 1  # fmt: skip
    assert sample("tallyio_relay_errors_total", endpoint="hangs", method="eth_sendBundle",
                  kind="timeout") == 1  # fmt: skip
    assert sample("tallyio_relay_errors_total", endpoint="good", method="eth_sendBundle",
                  kind="rpc") is None  # fmt: skip


# -- executor values ------------------------------------------------------------------------------
def _plan() -> Plan:
    return Plan((UniswapV2Swap(ADDR[0], ADDR[1], ADDR[2], 10**6),
                 UniswapV2Swap(ADDR[3], ADDR[2], ADDR[1])), ADDR[1], 1)  # fmt: skip


def test_approved_derives_a_stable_plan_id_from_contract_calldata_and_block() -> None:
    a = Approved(_plan(), ADDR[4], 100, 150_000, 10)
    assert a.plan_id == Approved(_plan(), ADDR[4].upper().replace("0X", "0x"), 5, 9, 10).plan_id
    assert a.plan_id != Approved(_plan(), ADDR[4], 100, 150_000, 11).plan_id
    assert len(a.plan_id) == 16 and a.calldata[:4].hex() == "93fd9944"
    assert Approved(_plan(), ADDR[4], 100, 150_000, 10, plan_id="opp-7").plan_id == "opp-7"
    with pytest.raises(ValueError, match="bad gas estimate"):
        Approved(_plan(), ADDR[4], 100, 0, 10)


def _outcome(success: bool, profit: int, gas: int = 100_000) -> Outcome:
    step = TxResult(success, gas, None if success else "custom error 0x12345678", b"")
    return Outcome.of((step,), profit, 1)


def test_judge_wants_profit_after_gas_in_the_profit_token() -> None:
    usdc_per_eth = 2_000 * 10**6
    fees = Fees(30 * GWEI, 2 * GWEI)  # base 10 gwei: pays 12 gwei a gas
    # 100k gas * 12 gwei = 0.0012 ETH = 2.4 USDC
    assert judge(_outcome(True, 3 * 10**6), fees, 10 * GWEI, usdc_per_eth).net_profit == 600_000
    short = judge(_outcome(True, 2 * 10**6), fees, 10 * GWEI, usdc_per_eth)
    assert not short.go and short.gas_cost == 2_400_000 and "after gas" in (short.reason or "")
    reverted = judge(_outcome(False, 0), fees, 10 * GWEI, usdc_per_eth)
    assert reverted.reason == "simulation reverted: custom error 0x12345678"
    assert judge(_outcome(True, 10**9), None, 10 * GWEI, usdc_per_eth).reason is not None
    assert wei_to_token(1, usdc_per_eth) == 1  # a cost rounds up
    assert token_to_wei(1, usdc_per_eth) == 500_000_000  # a profit rounds down
    assert gas_limit_for(100_000, 30_000_000) == 135_000
    assert gas_limit_for(100_000, 120_000) == 120_000


def _every_kind_plans() -> list[Plan]:
    pool_id = bytes(range(32))
    v2 = UniswapV2Swap(ADDR[0], ADDR[1], ADDR[2], 123, fee_bps=25)
    v3 = UniswapV3Swap(ADDR[3], ADDR[2], ADDR[1], 2**200, sqrt_price_limit_x96=2**159 + 7)
    bal = BalancerSwap(ADDR[4], pool_id, ADDR[1], ADDR[2])
    aave = AaveLiquidation(ADDR[0], ADDR[1], ADDR[2], ADDR[3], 10**30)
    venus = VenusLiquidation(ADDR[1], ADDR[2], ADDR[3], ADDR[4], 5)
    balancer_loan = FlashLoan(FlashSource.BALANCER, ADDR[0], ADDR[2], 10**12)  # no swap on it
    return [
        Plan((v2,), ADDR[2], 0),
        Plan((v2, v3, bal, aave, venus), ADDR[1], 2**255, tip_bps=10_000),
        Plan((aave, v2), ADDR[2], 1, FlashLoan(FlashSource.AAVE_V3, ADDR[0], ADDR[2], 7)),
        Plan((venus, v3), ADDR[2], 3, balancer_loan),
        Plan((bal, v2), ADDR[2], 3, FlashLoan(FlashSource.UNISWAP_V3, ADDR[4], ADDR[2], 9)),
    ]


@pytest.mark.parametrize("plan", _every_kind_plans(), ids=lambda p: f"{len(p.actions)}-actions")
def test_fast_calldata_is_byte_for_byte_encode_plan(plan: Plan) -> None:
    fast = fast_encode_plan(plan)
    assert fast == encode_plan(plan)
    assert decode_plan(fast) == plan


def test_fast_calldata_on_random_routes() -> None:
    rng = random.Random(4)
    for _ in range(200):
        actions = tuple(
            UniswapV2Swap(rng.choice(ADDR), rng.choice(ADDR), rng.choice(ADDR),
                          rng.getrandbits(rng.choice((0, 8, 256))), rng.randrange(10_000))
            for _ in range(rng.randrange(1, 6))
        )  # fmt: skip
        plan = Plan(actions, rng.choice(ADDR), rng.getrandbits(256), tip_bps=rng.randrange(10_001))
        assert fast_encode_plan(plan) == encode_plan(plan)
