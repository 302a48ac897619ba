"""Balancer V2 on the devnet: the real vault, weighted pools, swaps and flash loans."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from web3.contract import Contract

from tallyio.devnet.balancer_v2 import (
    AUTHORIZER,
    FEES_COLLECTOR_ADMIN_ABI,
    QUERIES,
    VAULT,
    WEIGHTED_POOL,
)
from tallyio.devnet.context import DECIMALS, PRICES_USD_8, DeployContext, attach
from tallyio.devnet.deployer import DeployError, load_artifact, load_forge_artifact

if TYPE_CHECKING:
    from conftest import Devnet  # tests/conftest.py, the `chain` fixture

pytestmark = pytest.mark.devnet

ONE = 10**18
GIVEN_IN, GIVEN_OUT = 0, 1
DEADLINE = 2**63


# -- helpers -------------------------------------------------------------------------------
def section(chain: Devnet) -> dict[str, Any]:
    bal: dict[str, Any] = chain.manifest["balancer_v2"]
    return bal


def vault(chain: Devnet) -> Contract:
    return chain.d.at(load_artifact(VAULT), section(chain)["vault"])


def balance(ctx: DeployContext, symbol: str, who: str) -> int:
    return int(ctx.tokens[symbol].functions.balanceOf(who).call())


def funds(who: str) -> tuple[str, bool, str, bool]:
    """FundManagement: from and to `who`'s wallet, no internal balances."""
    return (who, False, who, False)


def fee_for(amount: int, percentage: int) -> int:
    """The vault's flash-loan fee: FixedPoint.mulUp(amount, percentage)."""
    product = amount * percentage
    return 0 if product == 0 else (product - 1) // ONE + 1


LOAN = {"WETH": 1_000 * 10**18, "USDC": 1_000_000 * 10**6}


def loan(ctx: DeployContext) -> tuple[list[str], list[str], list[int]]:
    """WETH and USDC sorted by address, as the vault requires: symbols, tokens, amounts."""
    symbols = sorted(LOAN, key=lambda s: int(ctx.tokens[s].address, 16))
    return symbols, [ctx.tokens[s].address for s in symbols], [LOAN[s] for s in symbols]


def probe(chain: Devnet) -> Contract:
    return chain.d.deploy(load_forge_artifact("FlashLoanProbe"), sender=chain.account("searcher"))


def fund_probe(ctx: DeployContext, probe: Contract, symbol: str, amount: int) -> None:
    """Contracts cannot wrap ETH from the dev node, so the searcher funds and sends."""
    searcher = ctx.accounts["searcher"]
    ctx.fund(symbol, searcher, amount)
    ctx.d.send(ctx.tokens[symbol].functions.transfer(probe.address, amount), sender=searcher)


def borrow(chain: Devnet, p: Contract, tokens: list[str], amounts: list[int]) -> None:
    fn = p.functions.borrow(section(chain)["vault"], tokens, amounts)
    chain.d.send(fn, sender=chain.account("searcher"))


# -- deployment ----------------------------------------------------------------------------
def test_manifest_has_vault_factory_and_pools(chain: Devnet) -> None:
    bal = section(chain)
    assert {"vault", "authorizer", "weighted_pool_factory", "pools"} <= bal.keys()
    assert bal["flash_loan_fee_percentage"] == 0
    v = vault(chain)
    assert v.functions.getAuthorizer().call() == bal["authorizer"]
    assert v.functions.WETH().call() == chain.manifest["tokens"]["WETH"]
    assert v.functions.getProtocolFeesCollector().call() == bal["protocol_fees_collector"]
    assert len(bal["pools"]) >= 2
    for pool in bal["pools"]:
        assert {"pool_id", "address", "tokens", "symbols", "weights", "swap_fee"} <= pool.keys()
        assert pool["tokens"] == sorted(pool["tokens"], key=lambda a: int(a, 16))
        assert [chain.manifest["tokens"][s] for s in pool["symbols"]] == pool["tokens"]


def test_pools_hold_recorded_tokens_balances_and_weights(chain: Devnet) -> None:
    v = vault(chain)
    for rec in section(chain)["pools"]:
        pool = chain.d.at(load_artifact(WEIGHTED_POOL), rec["address"])
        pool_id = bytes.fromhex(rec["pool_id"][2:])
        assert pool.functions.getPoolId().call() == pool_id
        assert v.functions.getPool(pool_id).call()[0] == rec["address"]
        tokens, balances, _ = v.functions.getPoolTokens(pool_id).call()
        assert list(tokens) == rec["tokens"]
        assert list(balances) == rec["balances"]
        assert list(pool.functions.getNormalizedWeights().call()) == rec["weights"]
        assert sum(rec["weights"]) == ONE
        assert pool.functions.getSwapFeePercentage().call() == rec["swap_fee"]
        assert pool.functions.totalSupply().call() > 0  # the INIT join minted BPT
        assert_prices_match_feeds(rec)


def assert_prices_match_feeds(rec: dict[str, Any]) -> None:
    """Each token's USD value per unit weight is the same, so spot prices equal the feeds'."""
    values = [
        b * PRICES_USD_8[s] * ONE // (10 ** DECIMALS[s] * w)
        for s, b, w in zip(rec["symbols"], rec["balances"], rec["weights"], strict=True)
    ]
    assert max(values) - min(values) <= max(values) // 10**9


# -- swaps ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pool_index", "symbol_in", "symbol_out", "kind", "amount"),
    [
        (0, "WETH", "USDC", GIVEN_IN, 10 * 10**18),
        (0, "USDC", "WETH", GIVEN_IN, 50_000 * 10**6),
        (1, "DAI", "WBTC", GIVEN_OUT, 10**8),
    ],
)
def test_single_swap_pays_what_query_batch_swap_said(
    chain: Devnet, pool_index: int, symbol_in: str, symbol_out: str, kind: int, amount: int
) -> None:
    ctx = attach(chain.manifest)
    v = vault(chain)
    trader = chain.account("trader")
    ctx.fund(symbol_in, trader, 10 ** (DECIMALS[symbol_in] + 7))
    ctx.approve(symbol_in, trader, v.address)
    pool_id = bytes.fromhex(section(chain)["pools"][pool_index]["pool_id"][2:])
    t_in, t_out = ctx.tokens[symbol_in].address, ctx.tokens[symbol_out].address

    # The vault's own dry run (eth_call) just before the swap: deltas are the vault's view.
    step = (pool_id, 0, 1, amount, b"")
    query = v.functions.queryBatchSwap(kind, [step], [t_in, t_out], funds(trader))
    paid, received = query.call({"from": trader})
    single = (pool_id, kind, t_in, t_out, amount, b"")
    queries = chain.d.at(load_artifact(QUERIES), section(chain)["queries"])
    quoted = queries.functions.querySwap(single, funds(trader)).call()
    assert quoted == (-received if kind == GIVEN_IN else paid)

    before_in, before_out = balance(ctx, symbol_in, trader), balance(ctx, symbol_out, trader)
    limit = 0 if kind == GIVEN_IN else 2**256 - 1
    chain.d.send(v.functions.swap(single, funds(trader), limit, DEADLINE), sender=trader)
    assert before_in - balance(ctx, symbol_in, trader) == paid
    assert balance(ctx, symbol_out, trader) - before_out == -received
    assert paid > 0 and -received > 0


def test_swap_below_the_limit_reverts(chain: Devnet) -> None:
    ctx = attach(chain.manifest)
    v = vault(chain)
    trader = chain.account("trader")
    ctx.fund("WETH", trader, 10**18)
    ctx.approve("WETH", trader, v.address)
    pool_id = bytes.fromhex(section(chain)["pools"][0]["pool_id"][2:])
    single = (
        pool_id,
        GIVEN_IN,
        ctx.tokens["WETH"].address,
        ctx.tokens["USDC"].address,
        10**18,
        b"",
    )
    greedy = 2_000 * 10**6  # more than the spot price less the fee
    with pytest.raises(DeployError, match="BAL#507"):  # SWAP_LIMIT
        chain.d.send(v.functions.swap(single, funds(trader), greedy, DEADLINE), sender=trader)


# -- flash loans ---------------------------------------------------------------------------
def test_flash_loan_of_weth_and_usdc_is_lent_and_repaid(chain: Devnet) -> None:
    ctx = attach(chain.manifest)
    v = section(chain)["vault"]
    p = probe(chain)
    symbols, tokens, amounts = loan(ctx)
    held = [balance(ctx, s, v) for s in symbols]
    borrow(chain, p, tokens, amounts)
    got_tokens, got_amounts, fees = p.functions.lastLoan().call()
    assert (list(got_tokens), list(got_amounts), list(fees)) == (tokens, amounts, [0, 0])
    assert p.functions.loans().call() == 1
    assert [balance(ctx, s, v) for s in symbols] == held


def test_flash_loan_fee_is_paid_when_governance_sets_one(chain: Devnet) -> None:
    ctx = attach(chain.manifest)
    bal = section(chain)
    collector = chain.d.at(FEES_COLLECTOR_ADMIN_ABI, bal["protocol_fees_collector"])
    setter = collector.functions.setFlashLoanFeePercentage
    action = collector.functions.getActionId(bytes.fromhex(setter(0).selector[2:])).call()
    authorizer = chain.d.at(load_artifact(AUTHORIZER), bal["authorizer"])
    chain.d.send(authorizer.functions.grantRole(action, chain.account("deployer")))
    chain.d.send(setter(10**15))  # 0.1%
    assert collector.functions.getFlashLoanFeePercentage().call() == 10**15

    p = probe(chain)
    symbols, tokens, amounts = loan(ctx)
    fees = [fee_for(a, 10**15) for a in amounts]
    for symbol, fee in zip(symbols, fees, strict=True):
        fund_probe(ctx, p, symbol, fee)
    held = [balance(ctx, s, collector.address) for s in symbols]
    borrow(chain, p, tokens, amounts)
    assert list(p.functions.lastLoan().call()[2]) == fees
    assert [balance(ctx, s, collector.address) for s in symbols] == [
        h + f for h, f in zip(held, fees, strict=True)
    ]


def test_unpaid_flash_loan_reverts(chain: Devnet) -> None:
    p = probe(chain)
    chain.d.send(p.functions.setRepay(False), sender=chain.account("searcher"))
    _, tokens, amounts = loan(attach(chain.manifest))
    with pytest.raises(DeployError, match="BAL#515"):  # INVALID_POST_LOAN_BALANCE
        borrow(chain, p, tokens, amounts)
    assert p.functions.loans().call() == 0


def test_flash_loan_beyond_vault_holdings_reverts(chain: Devnet) -> None:
    ctx = attach(chain.manifest)
    p = probe(chain)
    symbols, tokens, _ = loan(ctx)
    too_much = [balance(ctx, s, section(chain)["vault"]) + 1 for s in symbols]
    with pytest.raises(DeployError, match="BAL#528"):  # INSUFFICIENT_FLASH_LOAN_BALANCE
        borrow(chain, p, tokens, too_much)


def test_only_the_vault_may_call_back(chain: Devnet) -> None:
    p = probe(chain)
    _, tokens, amounts = loan(attach(chain.manifest))
    callback = p.functions.receiveFlashLoan(tokens, amounts, [0, 0], b"")
    with pytest.raises(DeployError, match="only vault"):
        chain.d.send(callback, sender=chain.account("searcher"))
