"""`tallyio quote` answers from the local model, equal to the protocols' own quoters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import Devnet
from tallyio.devnet.deployer import load_artifact
from tallyio.devnet.node import free_port

pytestmark = pytest.mark.devnet

ROUTER = "@uniswap/v2-periphery/build/UniswapV2Router02.json"
QUOTER = "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json"
QUERIES_ABI = [{
    "name": "querySwap", "type": "function", "stateMutability": "nonpayable",
    "inputs": [
        {"name": "singleSwap", "type": "tuple", "components": [
            {"name": "poolId", "type": "bytes32"}, {"name": "kind", "type": "uint8"},
            {"name": "assetIn", "type": "address"}, {"name": "assetOut", "type": "address"},
            {"name": "amount", "type": "uint256"}, {"name": "userData", "type": "bytes"}]},
        {"name": "funds", "type": "tuple", "components": [
            {"name": "sender", "type": "address"},
            {"name": "fromInternalBalance", "type": "bool"},
            {"name": "recipient", "type": "address"},
            {"name": "toInternalBalance", "type": "bool"}]},
    ],
    "outputs": [{"name": "", "type": "uint256"}],
}]  # fmt: skip


def quote(chain: Devnet, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tallyio.cli", "quote", "--rpc", chain.rpc_url,
         "--multicall", chain.manifest["multicall"], "--json", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def answer(chain: Devnet, *args: str) -> dict[str, str]:
    out = quote(chain, *args)
    assert out.returncode == 0, out.stderr
    result: dict[str, str] = json.loads(out.stdout)
    return result


def test_v2_quote_equals_router(chain: Devnet) -> None:
    venue = chain.manifest["uniswap_v2"][1]
    pair = venue["pairs"][0]
    amount = 3 * 10**18 if pair["symbol0"] == "WETH" else 5_000 * 10**6
    router = chain.d.at(load_artifact(ROUTER), venue["router"])
    expected = router.functions.getAmountsOut(amount, [pair["token0"], pair["token1"]]).call()[1]
    got = answer(chain, "--pool", pair["address"], "--token-in", pair["token0"],
                 "--amount-in", str(amount))  # fmt: skip
    assert got["protocol"] == "uniswap_v2"
    assert int(got["amount_out"]) == expected


def test_v3_quote_equals_quoter_v2(chain: Devnet) -> None:
    v3 = chain.manifest["uniswap_v3"]
    quoter = chain.d.at(load_artifact(QUOTER), v3["quoter"])
    for pool in v3["pools"]:
        amount = 10 ** (18 if pool["symbol1"] in ("WETH", "DAI") else 8)
        params = (pool["token1"], pool["token0"], amount, pool["fee"], 0)
        expected = quoter.functions.quoteExactInputSingle(params).call()[0]
        got = answer(chain, "--pool", pool["address"], "--token-in", pool["token1"],
                     "--amount-in", str(amount))  # fmt: skip
        assert got["protocol"] == "uniswap_v3"
        assert int(got["amount_out"]) == expected, pool["address"]


def test_balancer_quote_equals_query_swap(chain: Devnet) -> None:
    bal = chain.manifest["balancer_v2"]
    queries = chain.d.w3.eth.contract(address=bal["queries"], abi=QUERIES_ABI)
    pool = bal["pools"][1]  # three tokens: --token-out required
    token_in, token_out = pool["tokens"][0], pool["tokens"][2]
    amount = 10**12
    zero = "0x" + "00" * 20
    swap = (bytes.fromhex(pool["pool_id"][2:]), 0, token_in, token_out, amount, b"")
    expected = queries.functions.querySwap(swap, (zero, False, zero, False)).call()
    got = answer(chain, "--pool", pool["address"], "--token-in", token_in,
                 "--token-out", token_out, "--amount-in", str(amount))  # fmt: skip
    assert got["protocol"] == "balancer_v2"
    assert int(got["amount_out"]) == expected
    missing = quote(chain, "--pool", pool["address"], "--token-in", token_in, "--amount-in", "1")
    assert missing.returncode == 1 and "--token-out" in missing.stderr


def test_not_a_pool_and_dead_node_are_clear_errors(chain: Devnet) -> None:
    token = chain.manifest["tokens"]["USDC"]
    bad = quote(chain, "--pool", token, "--token-in", token, "--amount-in", "1")
    assert bad.returncode == 1 and "not a pool" in bad.stderr
    dead = subprocess.run(
        [sys.executable, "-m", "tallyio.cli", "quote", "--rpc", f"http://127.0.0.1:{free_port()}",
         "--pool", token, "--token-in", token, "--amount-in", "1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert dead.returncode == 1
    assert "127.0.0.1" in dead.stderr and "Traceback" not in dead.stderr
