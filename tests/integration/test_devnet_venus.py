"""Venus core pool on the devnet: real Diamond comptroller, vTokens and oracles, on our feeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from web3.contract import Contract
from web3.logs import DISCARD

from conftest import Devnet
from tallyio.devnet.context import DECIMALS, MINTABLE_ERC20, WETH9, DeployContext
from tallyio.devnet.deployer import load_artifact, load_forge_artifact
from tallyio.devnet.venus import (
    BORROWER_SEEDS,
    CLOSE_FACTOR,
    CUSHION_RANGE_PCT,
    LIQUIDATION_INCENTIVE,
    MARKETS,
    WAD,
    cushion_pct,
    vtoken_abi,
)
from tallyio.devnet.venus_setup import RESILIENT_ORACLE, comptroller_abi, send_checked

pytestmark = pytest.mark.devnet

SYMBOLS = ("WETH", "WBTC", "USDC", "DAI")
SEIZE_TOKENS = "liquidateCalculateSeizeTokens(address,address,address,uint256)"  # borrower first


@dataclass(frozen=True, slots=True)
class Venus:
    """The deployed pool as contracts, plus a DeployContext for funding accounts."""

    section: dict[str, Any]
    ctx: DeployContext
    comptroller: Contract
    oracle: Contract
    vtokens: dict[str, Contract]
    borrowers: list[str]

    def liquidity(self, who: str) -> tuple[int, int]:
        err, liquidity, shortfall = self.comptroller.functions.getAccountLiquidity(who).call()
        assert err == 0
        return liquidity, shortfall

    def set_price(self, symbol: str, usd: float) -> None:
        feed = self.ctx.feeds[symbol]
        self.ctx.d.send(feed.functions.setAnswer(round(usd * 10**8)))

    def balance(self, symbol: str, who: str) -> int:
        return int(self.ctx.tokens[symbol].functions.balanceOf(who).call())


@pytest.fixture
def venus(chain: Devnet) -> Venus:
    m = chain.manifest
    d = chain.d
    accounts = {name: a["address"] for name, a in m["accounts"].items()}
    erc20 = load_artifact(MINTABLE_ERC20)
    tokens = {
        s: d.at(load_artifact(WETH9) if s == "WETH" else erc20, a) for s, a in m["tokens"].items()
    }
    feed = load_forge_artifact("SettableFeed")
    feeds = {s: d.at(feed, a) for s, a in m["price_feeds"].items()}
    section = m["venus"]
    return Venus(
        section=section,
        ctx=DeployContext(d, accounts, tokens=tokens, feeds=feeds),
        comptroller=d.at(comptroller_abi(), section["comptroller"]),
        oracle=d.at(load_artifact(RESILIENT_ORACLE), section["oracle"]),
        vtokens={s: d.at(vtoken_abi(), a) for s, a in section["vtokens"].items()},
        borrowers=m["borrowers"]["venus"],
    )


def expected_price(feed_answer: int, symbol: str) -> int:
    """Venus prices an underlying's smallest unit in USD scaled by 1e36 / 10**decimals."""
    return feed_answer * 10**10 * 10 ** (18 - DECIMALS[symbol])


def calculate_seize_tokens(
    repay: int, incentive: int, p_borrowed: int, p_collateral: int, rate: int
) -> int:
    """ComptrollerLens._calculateSeizeTokens, with its Exp truncations in order."""
    numerator = incentive * p_borrowed // WAD
    denominator = p_collateral * rate // WAD
    return (numerator * WAD // denominator) * repay // WAD


def test_manifest_section(venus: Venus) -> None:
    keys = {"comptroller", "oracle", "access_control_manager", "vtokens", "markets"}
    assert keys | {"liquidation_incentive", "close_factor"} <= venus.section.keys()
    assert set(venus.section["vtokens"]) == set(SYMBOLS)
    for symbol, market in venus.section["markets"].items():
        assert {
            "vtoken",
            "underlying",
            "collateral_factor",
            "liquidation_threshold",
        } <= market.keys()
        assert market["vtoken"] == venus.section["vtokens"][symbol]
        assert market["underlying"] == venus.ctx.tokens[symbol].address
    assert venus.section["liquidation_incentive"] == LIQUIDATION_INCENTIVE
    assert venus.section["close_factor"] == CLOSE_FACTOR
    assert len(venus.borrowers) == len(BORROWER_SEEDS) == 5


def test_markets_listed_with_their_parameters(venus: Venus) -> None:
    fns = venus.comptroller.functions
    assert fns.closeFactorMantissa().call() == CLOSE_FACTOR
    assert fns.oracle().call() == venus.oracle.address
    assert {a for a in fns.getAllMarkets().call()} == {v.address for v in venus.vtokens.values()}
    for symbol, vtoken in venus.vtokens.items():
        listed, cf, _, lt, li, pool, borrowable = fns.markets(vtoken.address).call()
        spec = MARKETS[symbol]
        assert (listed, pool, borrowable) == (True, 0, True)
        assert (cf, lt, li) == (
            spec.collateral_factor,
            spec.liquidation_threshold,
            LIQUIDATION_INCENTIVE,
        )
        assert vtoken.functions.underlying().call() == venus.ctx.tokens[symbol].address
        assert vtoken.functions.comptroller().call() == venus.comptroller.address


def test_oracle_follows_the_feeds(venus: Venus) -> None:
    for symbol, vtoken in venus.vtokens.items():
        answer = venus.ctx.feeds[symbol].functions.latestAnswer().call()
        price = venus.oracle.functions.getUnderlyingPrice(vtoken.address).call()
        assert price == expected_price(answer, symbol)
    venus.set_price("WETH", 1_234.5)
    moved = venus.oracle.functions.getUnderlyingPrice(venus.vtokens["WETH"].address).call()
    assert moved == expected_price(123_450_000_000, "WETH")


def test_fresh_account_supplies_enters_and_borrows(venus: Venus, chain: Devnet) -> None:
    ctx, who = venus.ctx, chain.account("trader")
    v_weth, v_usdc = venus.vtokens["WETH"], venus.vtokens["USDC"]
    supplied = 10 * 10**18
    ctx.fund("WETH", who, supplied)
    ctx.approve("WETH", who, v_weth.address)
    send_checked(ctx.d, v_weth.functions.mint(supplied), sender=who)
    rate = v_weth.functions.exchangeRateStored().call()
    assert v_weth.functions.balanceOf(who).call() == supplied * WAD // rate

    ctx.d.send(venus.comptroller.functions.enterMarkets([v_weth.address]), sender=who)
    assert venus.comptroller.functions.checkMembership(who, v_weth.address).call()
    borrowed = 5_000 * 10**6
    before = venus.balance("USDC", who)
    send_checked(ctx.d, v_usdc.functions.borrow(borrowed), sender=who)
    assert venus.balance("USDC", who) - before == borrowed
    assert v_usdc.functions.borrowBalanceStored(who).call() == borrowed
    liquidity, shortfall = venus.liquidity(who)
    assert shortfall == 0 and liquidity > 0


def test_seeded_borrowers_sit_just_inside_the_threshold(venus: Venus) -> None:
    low, high = CUSHION_RANGE_PCT
    for who, seed in zip(venus.borrowers, BORROWER_SEEDS, strict=True):
        debt_symbol, debt = seed.debt
        vdebt = venus.vtokens[debt_symbol]
        assert vdebt.functions.borrowBalanceStored(who).call() >= debt
        liquidity, shortfall = venus.liquidity(who)
        assert shortfall == 0 and liquidity > 0
        assert low <= cushion_pct(venus.comptroller, venus.oracle, vdebt, who) <= high


def test_price_moves_reach_borrowers_at_different_moments(venus: Venus) -> None:
    b = venus.borrowers
    venus.set_price("WETH", 1_900)  # -5%: only borrower 0 (ETH collateral, thinnest cushion)
    assert [venus.liquidity(w)[1] > 0 for w in b] == [True, False, False, False, False]
    venus.set_price("WETH", 2_200)  # +10%: now the ETH short (3), not the ETH-backed ones
    assert [venus.liquidity(w)[1] > 0 for w in b] == [False, False, False, True, False]
    venus.set_price("WETH", 2_000)
    venus.set_price("WBTC", 56_000)  # -6.7%: borrower 1 (BTC collateral), not 2 (needs -17%)
    assert [venus.liquidity(w)[1] > 0 for w in b] == [False, True, False, False, False]
    venus.set_price("WBTC", 67_000)  # +11.7%: borrower 4 owes BTC
    assert [venus.liquidity(w)[1] > 0 for w in b] == [False, False, False, False, True]


def test_healthy_borrower_cannot_be_liquidated(venus: Venus, chain: Devnet) -> None:
    searcher, borrower = chain.account("searcher"), venus.borrowers[0]
    v_usdc, v_weth = venus.vtokens["USDC"], venus.vtokens["WETH"]
    venus.ctx.fund("USDC", searcher, 1_000 * 10**6)
    venus.ctx.approve("USDC", searcher, v_usdc.address)
    liquidate = v_usdc.functions.liquidateBorrow(borrower, 1_000 * 10**6, v_weth.address)
    assert liquidate.call({"from": searcher}) != 0  # Compound v2 answers with an error code


def test_price_drop_liquidation_seizes_and_redeems(venus: Venus, chain: Devnet) -> None:
    ctx, searcher, borrower = venus.ctx, chain.account("searcher"), venus.borrowers[0]
    v_usdc, v_weth = venus.vtokens["USDC"], venus.vtokens["WETH"]
    venus.set_price("WETH", 1_850)
    assert venus.liquidity(borrower)[1] > 0

    repay = v_usdc.functions.borrowBalanceStored(borrower).call() * CLOSE_FACTOR // WAD // 2
    ctx.fund("USDC", searcher, repay)
    ctx.approve("USDC", searcher, v_usdc.address)
    collateral_before = v_weth.functions.balanceOf(borrower).call()
    receipt = send_checked(
        ctx.d, v_usdc.functions.liquidateBorrow(borrower, repay, v_weth.address), sender=searcher
    )
    (event,) = v_usdc.events.LiquidateBorrow().process_receipt(receipt, DISCARD)
    args = event["args"]
    assert (args["repayAmount"], args["vTokenCollateral"]) == (repay, v_weth.address)
    seized = args["seizeTokens"]

    # Seizing moves vTokens only, so the post-liquidation state prices it as the liquidation did.
    _, quoted = venus.comptroller.get_function_by_signature(SEIZE_TOKENS)(
        borrower, v_usdc.address, v_weth.address, repay
    ).call()
    rate = v_weth.functions.exchangeRateStored().call()
    prices = [venus.oracle.functions.getUnderlyingPrice(v.address).call() for v in (v_usdc, v_weth)]
    assert seized == quoted == calculate_seize_tokens(repay, LIQUIDATION_INCENTIVE, *prices, rate)
    assert v_weth.functions.balanceOf(searcher).call() == seized
    assert collateral_before - v_weth.functions.balanceOf(borrower).call() == seized

    weth_before = venus.balance("WETH", searcher)
    receipt = send_checked(ctx.d, v_weth.functions.redeem(seized), sender=searcher)
    (redeemed,) = v_weth.events.Redeem().process_receipt(receipt, DISCARD)
    assert redeemed["args"]["redeemTokens"] == seized
    assert venus.balance("WETH", searcher) - weth_before == redeemed["args"]["redeemAmount"]
    # 10% incentive: the WETH received is worth ~1.1x the USDC repaid (at the feed's prices).
    got_usd, paid_usd = redeemed["args"]["redeemAmount"] * 1_850 / 1e18, repay / 1e6
    assert got_usd == pytest.approx(paid_usd * 1.1, rel=1e-6)
