"""Balancer V2 weighted-pool math pinned to the real bytecode: each quote is the swap, to the wei.

1,400 random swaps run on WeightedPool v3 pools: the devnet's two (80/20 WETH/USDC and
40/40/20 WETH/WBTC/DAI) plus two this test creates from the same factory, so that every
FixedPoint path shows at 18 decimals too (an 80/20 WETH/DAI pool for the exponent-4 shortcut,
and a 42/8/35/15 pool with an odd fee for LogExpMath exponents from 0.19 to 5.25). Both kinds, every
token direction, sizes from one base unit to a few units past the 30% ratio limit. Before each
swap the model is built from Vault.getPoolTokens; the swap's Swap event must carry exactly the
model's amounts, a swap the model refuses must revert with the same BAL# code, and the next
balance read must show the vault moved exactly those amounts (no protocol fee per swap).
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pytest
import requests
from eth_abi import decode, encode
from eth_utils import keccak
from web3.contract import Contract

from tallyio.devnet.balancer_v2 import (
    AUTHORIZER,
    FEES_COLLECTOR_ADMIN_ABI,
    VAULT,
    WEIGHTED_POOL,
    WEIGHTED_POOL_FACTORY,
    PoolSpec,
    _create_pool,
)
from tallyio.devnet.context import DECIMALS
from tallyio.devnet.deployer import (
    DEFAULT_GAS,
    DeployError,
    load_artifact,
    load_forge_artifact,
)
from tallyio.protocols.balancer import (
    MAX_IN_RATIO,
    ONE,
    BalancerMathError,
    WeightedPool,
    flash_loan_fee,
    mul_down,
    scaling_factor,
)

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

GIVEN_IN, GIVEN_OUT = 0, 1
DEADLINE = 2**63
SWAPS = 1_400
INVARIANT_EVERY = 25  # compare WeightedPool.getInvariant (powDown) every this many swaps
SWAP_TOPIC = "0x" + keccak(text="Swap(bytes32,address,address,uint256,uint256)").hex()
SWAP_ARGS = ["(bytes32,uint8,address,address,uint256,bytes)", "(address,bool,address,bool)"]
SWAP_ARGS += ["uint256", "uint256"]
SWAP = "0x" + keccak(text=f"swap({','.join(SWAP_ARGS)})")[:4].hex()
GET_POOL_TOKENS = "0x" + keccak(text="getPoolTokens(bytes32)")[:4].hex()
GET_INVARIANT = "0x" + keccak(text="getInvariant()")[:4].hex()
EXTRA_POOLS = (
    PoolSpec(("WETH", "DAI"), (80, 20), 25 * 10**14, 4_000_000),
    PoolSpec(("WETH", "DAI", "WBTC", "USDC"), (42, 8, 35, 15), 1_234_567_890_123_456, 5_000_000),
)


@dataclass(frozen=True, slots=True)
class Case:
    """One swap to try: which pool, token positions in it, kind, given amount (raw units)."""

    pool: int
    i: int  # token in
    o: int  # token out
    kind: int
    amount: int


@dataclass(frozen=True, slots=True)
class Result:
    """What a swap did: the amounts moved, or the BAL# code it reverted with."""

    amount_in: int = 0
    amount_out: int = 0
    error: int | None = None


# -- the chain side ------------------------------------------------------------------------
def vault(chain: Devnet) -> Contract:
    return chain.d.at(load_artifact(VAULT), chain.manifest["balancer_v2"]["vault"])


def pool_contract(chain: Devnet, pool: WeightedPool) -> Contract:
    return chain.d.at(load_artifact(WEIGHTED_POOL), pool.address)


def load_pool(chain: Devnet, v: Contract, rec: dict[str, Any]) -> WeightedPool:
    """The model of one pool from the chain: vault balances, pool weights, factors and fee."""
    pool = chain.d.at(load_artifact(WEIGHTED_POOL), rec["address"])
    tokens, balances, _ = v.functions.getPoolTokens(bytes.fromhex(rec["pool_id"][2:])).call()
    return WeightedPool(
        pool_id=rec["pool_id"],
        address=rec["address"],
        tokens=tuple(tokens),
        balances=tuple(balances),
        weights=tuple(pool.functions.getNormalizedWeights().call()),
        scaling_factors=tuple(pool.functions.getScalingFactors().call()),
        swap_fee=pool.functions.getSwapFeePercentage().call(),
    )


def create_extra_pools(chain: Devnet, v: Contract) -> list[dict[str, Any]]:
    """More pools from the devnet's factory (the `chain` fixture reverts them afterwards)."""
    ctx = chain.context()
    factory = chain.d.at(
        load_artifact(WEIGHTED_POOL_FACTORY), chain.manifest["balancer_v2"]["weighted_pool_factory"]
    )
    return [_create_pool(ctx, v, factory, spec) for spec in EXTRA_POOLS]


def fund_trader(chain: Devnet, v: Contract) -> str:
    ctx = chain.context()
    trader = chain.account("trader")
    for symbol in ("WETH", "USDC", "WBTC", "DAI"):
        ctx.fund(symbol, trader, 10 ** (DECIMALS[symbol] + 12))
        ctx.approve(symbol, trader, v.address)
    return trader


class Trader:
    """The hot loop's side of the chain: raw JSON-RPC over one keep-alive session.

    web3 contract calls and the environment proxy lookup requests does per call (the shared
    Deployer's session) cost milliseconds each; over thousands of swaps that is most of the time.
    """

    def __init__(self, rpc_url: str, vault: str, trader: str) -> None:
        self.url, self.vault, self.address = rpc_url, vault, trader
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: no proxies to look up
        self.ids = itertools.count()

    def rpc(self, method: str, *params: Any) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self.ids), "method": method}
        body["params"] = list(params)
        answer = self.session.post(self.url, json=body, timeout=60).json()
        if "error" in answer:
            raise DeployError(f"{method}: {answer['error'].get('message', answer['error'])}")
        return answer["result"]

    def call(self, to: str, data: str, types: list[str], block: str = "latest") -> tuple[Any, ...]:
        answer = self.rpc("eth_call", {"to": to, "data": data}, block)
        return tuple(decode(types, bytes.fromhex(answer[2:])))

    def balances(self, pool: WeightedPool) -> tuple[int, ...]:
        """Vault.getPoolTokens(poolId): the pool's balances now."""
        data = GET_POOL_TOKENS + pool.pool_id[2:]
        _, balances, _ = self.call(self.vault, data, ["address[]", "uint256[]", "uint256"])
        return tuple(balances)

    def invariant(self, pool: WeightedPool) -> int:
        """WeightedPool.getInvariant()."""
        (value,) = self.call(pool.address, GET_INVARIANT, ["uint256"])
        return int(value)

    def swap(self, pool: WeightedPool, case: Case) -> Result:
        """Vault.swap from the trader's wallet: the Swap event's amounts, or the BAL# revert."""
        single = (
            bytes.fromhex(pool.pool_id[2:]),
            case.kind,
            pool.tokens[case.i],
            pool.tokens[case.o],
            case.amount,
            b"",
        )
        limit = 0 if case.kind == GIVEN_IN else 2**256 - 1
        funds = (self.address, False, self.address, False)
        data = SWAP + encode(SWAP_ARGS, [single, funds, limit, DEADLINE]).hex()
        tx = {"from": self.address, "to": self.vault, "data": data, "gas": hex(DEFAULT_GAS)}
        receipt = self.receipt(self.rpc("eth_sendTransaction", tx))
        if int(receipt["status"], 16) != 1:  # replay it just before its block for the reason
            block = hex(int(receipt["blockNumber"], 16) - 1)
            try:
                self.rpc("eth_call", tx, block)
            except DeployError as exc:
                return Result(error=bal_code(str(exc)))
            raise AssertionError(f"swap {case} reverted on chain but not when replayed")
        (log,) = [g for g in receipt["logs"] if g["topics"][0] == SWAP_TOPIC]
        amount_in, amount_out = decode(["uint256", "uint256"], bytes.fromhex(log["data"][2:]))
        return Result(amount_in, amount_out)

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        for _ in range(5_000):  # automine: the receipt can trail the hash by a moment
            receipt: dict[str, Any] | None = self.rpc("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return receipt
            time.sleep(0.001)
        raise AssertionError(f"no receipt for {tx_hash}")


def bal_code(message: str) -> int:
    assert "BAL#" in message, f"swap reverted without a BAL# code: {message}"
    return int(message.split("BAL#", 1)[1][:3])


# -- the model side ------------------------------------------------------------------------
def swap_in_model(pool: WeightedPool, case: Case) -> Result:
    token_in, token_out = pool.tokens[case.i], pool.tokens[case.o]
    try:
        if case.kind == GIVEN_IN:
            return Result(case.amount, pool.amount_out(token_in, token_out, case.amount))
        return Result(pool.amount_in(token_in, token_out, case.amount), case.amount)
    except BalancerMathError as exc:
        return Result(error=exc.code)


def random_case(rng: random.Random, pools: list[WeightedPool]) -> Case:
    p = rng.randrange(len(pools))
    i, o = rng.sample(range(len(pools[p].tokens)), 2)
    kind = rng.choice((GIVEN_IN, GIVEN_OUT))
    return Case(p, i, o, kind, random_amount(rng, pools[p], i if kind == GIVEN_IN else o, kind))


def random_amount(rng: random.Random, pool: WeightedPool, k: int, kind: int) -> int:
    """Tiny (a few base units), log-uniform up to the 30% limit, or within a few units of it."""
    roll = rng.random()
    if roll < 0.05:
        return rng.randint(1, 100)
    if roll < 0.12:
        return max(1, ratio_limit(pool, k, kind) + rng.randint(-3, 3))
    fraction = 10 ** rng.uniform(-10, math.log10(0.3))
    return max(1, int(pool.balances[k] * fraction))


def ratio_limit(pool: WeightedPool, k: int, kind: int) -> int:
    """About the largest given amount (raw units) that the 30% check lets through."""
    sf = pool.scaling_factors[k]
    limit = mul_down(mul_down(pool.balances[k], sf), MAX_IN_RATIO) * ONE // sf
    if kind == GIVEN_IN:  # the check sees the amount after the fee
        limit = limit * ONE // (ONE - pool.swap_fee)
    return limit


# -- the tests -----------------------------------------------------------------------------
def test_pools_load_with_the_contracts_factors_weights_and_fees(chain: Devnet) -> None:
    v = vault(chain)
    for rec in chain.manifest["balancer_v2"]["pools"]:
        pool = load_pool(chain, v, rec)
        assert pool.scaling_factors == tuple(scaling_factor(DECIMALS[s]) for s in rec["symbols"])
        assert (list(pool.tokens), list(pool.weights)) == (rec["tokens"], rec["weights"])
        assert pool.swap_fee == rec["swap_fee"]
        assert pool.invariant() == pool_contract(chain, pool).functions.getInvariant().call()


def test_random_swaps_match_the_vault_to_the_wei(chain: Devnet) -> None:
    v = vault(chain)
    trader = Trader(chain.rpc_url, v.address, fund_trader(chain, v))
    recs = [*chain.manifest["balancer_v2"]["pools"], *create_extra_pools(chain, v)]
    pools = [load_pool(chain, v, rec) for rec in recs]
    rng = random.Random(20230206)
    mismatches: list[str] = []
    seen: Counter[tuple[int, int, int, int, bool]] = Counter()
    started = time.monotonic()
    for n in range(SWAPS):
        case = random_case(rng, pools)
        pool = pools[case.pool]
        balances = trader.balances(pool)
        if balances != pool.balances:  # the vault moved other amounts than the Swap said
            mismatches.append(f"#{n} pool {case.pool}: balances {balances} != {pool.balances}")
            pool = replace(pool, balances=balances)
        want, got = swap_in_model(pool, case), trader.swap(pool, case)
        if got != want:
            mismatches.append(f"#{n} {case} on {pool.balances}: chain {got} model {want}")
        seen[case.pool, case.i, case.o, case.kind, got.error is None] += 1
        if got.error is None:
            pool = pool.after_swap(
                pool.tokens[case.i], pool.tokens[case.o], got.amount_in, got.amount_out
            )
        pools[case.pool] = pool
        if n % INVARIANT_EVERY == 0:
            onchain = trader.invariant(pool)
            if onchain != pool.invariant():
                mismatches.append(f"#{n} pool {case.pool} invariant {onchain} != model")
    elapsed = time.monotonic() - started
    assert not mismatches, f"{len(mismatches)} mismatches in {SWAPS}:\n" + "\n".join(
        mismatches[:20]
    )
    assert_coverage(seen, pools)
    print(f"\n{SWAPS} swaps on {len(pools)} pools matched to the wei in {elapsed:.1f}s")


def assert_coverage(
    seen: Counter[tuple[int, int, int, int, bool]], pools: list[WeightedPool]
) -> None:
    """Every pool, direction and kind settled swaps, and each kind also hit the ratio limit."""
    for p, pool in enumerate(pools):
        for i in range(len(pool.tokens)):
            for o in range(len(pool.tokens)):
                for kind in (GIVEN_IN, GIVEN_OUT):
                    assert i == o or seen[p, i, o, kind, True] >= 5, (p, i, o, kind)
    for kind in (GIVEN_IN, GIVEN_OUT):
        assert sum(c for k, c in seen.items() if k[3] == kind and not k[4]) >= 5


def test_flash_loan_fee_matches_the_vault(chain: Devnet) -> None:
    """An odd fee percentage on odd amounts: the vault's fee is FixedPoint.mulUp."""
    bal = chain.manifest["balancer_v2"]
    collector = chain.d.at(FEES_COLLECTOR_ADMIN_ABI, bal["protocol_fees_collector"])
    setter = collector.functions.setFlashLoanFeePercentage
    action = collector.functions.getActionId(bytes.fromhex(setter(0).selector[2:])).call()
    authorizer = chain.d.at(load_artifact(AUTHORIZER), bal["authorizer"])
    chain.d.send(authorizer.functions.grantRole(action, chain.account("deployer")))
    percentage = 123_456_789_012_345  # 0.0123456789012345%
    chain.d.send(setter(percentage))

    ctx = chain.context()
    searcher = chain.account("searcher")
    probe = chain.d.deploy(load_forge_artifact("FlashLoanProbe"), sender=searcher)
    symbols = sorted(("WETH", "USDC"), key=lambda s: int(ctx.tokens[s].address, 16))
    amounts = {"WETH": 123 * 10**18 + 456_789, "USDC": 987_654_321}
    for symbol in symbols:  # contracts cannot wrap ETH on the dev node: the searcher pays in
        ctx.fund(symbol, searcher, 10 ** DECIMALS[symbol])
        transfer = ctx.tokens[symbol].functions.transfer(probe.address, 10 ** DECIMALS[symbol])
        chain.d.send(transfer, sender=searcher)
    tokens = [ctx.tokens[s].address for s in symbols]
    borrow = probe.functions.borrow(bal["vault"], tokens, [amounts[s] for s in symbols])
    chain.d.send(borrow, sender=searcher)
    fees = list(probe.functions.lastLoan().call()[2])
    assert fees == [flash_loan_fee(amounts[s], percentage) for s in symbols]
    assert all(f > 0 for f in fees)
