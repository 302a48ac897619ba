"""Uniswap V2 (two venues) and V3 on the devnet: every pool swaps, at the quoted amount, exactly."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from web3.contract import Contract

from tallyio.devnet import uniswap_v2 as v2
from tallyio.devnet import uniswap_v3 as v3
from tallyio.devnet.context import DECIMALS, MINTABLE_ERC20, PRICES_USD_8, WETH9, DeployContext
from tallyio.devnet.deployer import load_artifact
from tallyio.devnet.uniswap_v2 import usd_to_units

pytestmark = pytest.mark.devnet

DEADLINE = 2**64
SWAP_USD = 25_000


def context(chain: Any) -> DeployContext:
    accounts = {name: a["address"] for name, a in chain.manifest["accounts"].items()}
    tokens = {
        symbol: chain.d.at(load_artifact(WETH9 if symbol == "WETH" else MINTABLE_ERC20), address)
        for symbol, address in chain.manifest["tokens"].items()
    }
    return DeployContext(chain.d, accounts, tokens)


def worth(symbol: str, usd: int) -> int:
    return usd_to_units(usd, PRICES_USD_8[symbol], DECIMALS[symbol])


def give(ctx: DeployContext, symbol: str, amount: int, spender: str) -> str:
    """Fund the trader with `amount` of a token and approve `spender` for it."""
    trader = ctx.accounts["trader"]
    ctx.fund(symbol, trader, amount)
    ctx.approve(symbol, trader, spender)
    return trader


def direction(entry: dict[str, Any], i: int) -> tuple[str, str]:
    """Alternate swap directions across pools so both sides of the code run."""
    pair = (entry["symbol0"], entry["symbol1"])
    return pair if i % 2 == 0 else (pair[1], pair[0])


def balance(ctx: DeployContext, symbol: str, owner: str) -> int:
    return int(ctx.tokens[symbol].functions.balanceOf(owner).call())


# -- Uniswap V2 -----------------------------------------------------------------------------
def v2_get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    fee_in = amount_in * (10_000 - v2.FEE_BPS)
    return fee_in * reserve_out // (reserve_in * 10_000 + fee_in)


def reserves_by_symbol(pair: Contract, entry: dict[str, Any]) -> dict[str, int]:
    r0, r1, _ = pair.functions.getReserves().call()
    return {entry["symbol0"]: r0, entry["symbol1"]: r1}


def test_manifest_lists_two_v2_venues_with_every_pair(chain: Any) -> None:
    venues = chain.manifest["uniswap_v2"]
    assert [v["name"] for v in venues] == ["uniswap_v2", "sushiswap"]
    expected = {frozenset(p) for p in v2.PAIRS}
    for venue in venues:
        assert {frozenset((p["symbol0"], p["symbol1"])) for p in venue["pairs"]} == expected
        for p in venue["pairs"]:
            assert int(p["token0"], 16) < int(p["token1"], 16)


def test_v2_swap_on_every_pair_matches_router_quote_and_reserves(chain: Any) -> None:
    ctx = context(chain)
    pair_artifact = load_artifact(v2.PAIR)
    for venue in chain.manifest["uniswap_v2"]:
        router = chain.d.at(load_artifact(v2.ROUTER), venue["router"])
        for i, entry in enumerate(venue["pairs"]):
            sym_in, sym_out = direction(entry, i)
            pair = chain.d.at(pair_artifact, entry["address"])
            amount_in = worth(sym_in, SWAP_USD)
            trader = give(ctx, sym_in, amount_in, router.address)
            path = [ctx.tokens[sym_in].address, ctx.tokens[sym_out].address]
            before = reserves_by_symbol(pair, entry)
            quoted = router.functions.getAmountsOut(amount_in, path).call()[-1]
            assert quoted == v2_get_amount_out(amount_in, before[sym_in], before[sym_out])
            held = balance(ctx, sym_out, trader)

            swap = router.functions.swapExactTokensForTokens(
                amount_in, quoted, path, trader, DEADLINE
            )
            chain.d.send(swap, sender=trader)

            where = f"{venue['name']} {sym_in}->{sym_out}"
            assert balance(ctx, sym_out, trader) - held == quoted, where
            after = reserves_by_symbol(pair, entry)
            assert after[sym_in] == before[sym_in] + amount_in, where
            assert after[sym_out] == before[sym_out] - quoted, where


def mid_prices(chain: Any, venue: dict[str, Any]) -> dict[frozenset[str], tuple[str, Fraction]]:
    """Per pair: (symbol0, token1 per token0 in whole tokens) from the reserves."""
    out = {}
    for entry in venue["pairs"]:
        r = reserves_by_symbol(chain.d.at(load_artifact(v2.PAIR), entry["address"]), entry)
        s0, s1 = entry["symbol0"], entry["symbol1"]
        price = Fraction(r[s1] * 10 ** DECIMALS[s0], r[s0] * 10 ** DECIMALS[s1])
        out[frozenset((s0, s1))] = (s0, price)
    return out


def test_v2_venues_quote_slightly_different_prices(chain: Any) -> None:
    uni, sushi = (mid_prices(chain, v) for v in chain.manifest["uniswap_v2"])
    skews = v2.VENUES[1].skew_bps
    assert skews, "the fork venue must be skewed somewhere"
    for base, quote in v2.PAIRS:
        key = frozenset((base, quote))
        gap_bps = abs(sushi[key][1] / uni[key][1] - 1) * 10_000
        expected = abs(skews.get(f"{base}/{quote}", 0))
        assert abs(gap_bps - expected) < 1, f"{base}/{quote}: {float(gap_bps):.2f} bps"
        assert gap_bps < 100  # slightly, not wildly


def test_v2_cross_venue_round_trip_pays(chain: Any) -> None:
    """The fork prices WETH 0.8% above the reference: buy on uniswap_v2, sell on sushiswap.
    The gap clears both 0.3% fees by 0.2%, so only a small trade beats its own price impact."""
    uni, sushi = (
        chain.d.at(load_artifact(v2.ROUTER), v["router"]) for v in chain.manifest["uniswap_v2"]
    )
    usdc, weth = chain.manifest["tokens"]["USDC"], chain.manifest["tokens"]["WETH"]
    usdc_in = worth("USDC", 1_000)
    weth_out = uni.functions.getAmountsOut(usdc_in, [usdc, weth]).call()[-1]
    usdc_back = sushi.functions.getAmountsOut(weth_out, [weth, usdc]).call()[-1]
    assert usdc_back > usdc_in


# -- Uniswap V3 -----------------------------------------------------------------------------
def v3_contracts(ctx: DeployContext) -> tuple[Contract, Contract]:
    section = ctx.manifest["uniswap_v3"]
    router = ctx.d.at(load_artifact(v3.ROUTER), section["router"])
    return router, ctx.d.at(load_artifact(v3.QUOTER), section["quoter"])


def quote_and_swap(
    ctx: DeployContext, pool: dict[str, Any], sym_in: str, sym_out: str, usd: int
) -> tuple[Any, int]:
    """QuoterV2's quote, then the same swap through SwapRouter; returns (quote, amount out)."""
    router, quoter = v3_contracts(ctx)
    token_in, token_out = ctx.tokens[sym_in].address, ctx.tokens[sym_out].address
    amount_in = worth(sym_in, usd)
    trader = give(ctx, sym_in, amount_in, router.address)
    quote = quoter.functions.quoteExactInputSingle(
        (token_in, token_out, amount_in, pool["fee"], 0)
    ).call()
    held = balance(ctx, sym_out, trader)
    params = (token_in, token_out, pool["fee"], trader, DEADLINE, amount_in, quote[0], 0)
    ctx.d.send(router.functions.exactInputSingle(params), sender=trader)
    return quote, balance(ctx, sym_out, trader) - held


def v3_context(chain: Any) -> DeployContext:
    ctx = context(chain)
    ctx.manifest["uniswap_v3"] = chain.manifest["uniswap_v3"]
    return ctx


def active_liquidity(pool: dict[str, Any], tick: int) -> int:
    """What the pool's liquidity() must be at `tick`: every position whose range holds it."""
    return sum(
        p["liquidity"] for p in pool["positions"] if p["tick_lower"] <= tick < p["tick_upper"]
    )


def test_v3_pools_cover_every_fee_tier(chain: Any) -> None:
    pools = chain.manifest["uniswap_v3"]["pools"]
    assert {p["fee"] for p in pools} == {100, 500, 3000, 10000}
    factory = chain.d.at(load_artifact(v3.FACTORY), chain.manifest["uniswap_v3"]["factory"])
    for p in pools:
        assert factory.functions.getPool(p["token0"], p["token1"], p["fee"]).call() == p["address"]
        assert factory.functions.feeAmountTickSpacing(p["fee"]).call() == p["tick_spacing"]


def test_v3_swap_on_every_pool_matches_quoter(chain: Any) -> None:
    ctx = v3_context(chain)
    for i, pool in enumerate(chain.manifest["uniswap_v3"]["pools"]):
        sym_in, sym_out = direction(pool, i)
        quote, got = quote_and_swap(ctx, pool, sym_in, sym_out, SWAP_USD)
        where = f"{pool['symbol0']}/{pool['symbol1']} {pool['fee']}"
        assert got == quote[0] > 0, where
        slot0 = chain.d.at(load_artifact(v3.POOL), pool["address"]).functions.slot0().call()
        assert slot0[0] == quote[1], where  # the quoter predicted the resulting price too


def test_v3_pools_sit_at_reference_price_with_nested_ranges(chain: Any) -> None:
    for pool in chain.manifest["uniswap_v3"]["pools"]:
        contract = chain.d.at(load_artifact(v3.POOL), pool["address"])
        ranges = {(p["tick_lower"], p["tick_upper"]) for p in pool["positions"]}
        assert len(ranges) == len(v3.RANGES), pool["address"]
        for tick in {t for r in ranges for t in r}:
            assert tick % pool["tick_spacing"] == 0
            assert contract.functions.ticks(tick).call()[-1] is True  # initialized
        sqrt_price, tick = contract.functions.slot0().call()[:2]
        s0, s1 = pool["symbol0"], pool["symbol1"]
        reference = v3.sqrt_price_x96(
            PRICES_USD_8[s0], DECIMALS[s0], PRICES_USD_8[s1], DECIMALS[s1]
        )
        assert sqrt_price == reference  # seeded at the reference price, in the pool's token order
        assert contract.functions.liquidity().call() == active_liquidity(pool, tick)


def test_v3_large_swap_crosses_ticks_and_liquidity_changes(chain: Any) -> None:
    ctx = v3_context(chain)
    for i, pool in enumerate(chain.manifest["uniswap_v3"]["pools"]):
        contract = chain.d.at(load_artifact(v3.POOL), pool["address"])
        before = contract.functions.liquidity().call()
        quote, got = quote_and_swap(ctx, pool, *direction(pool, i), usd=1_000_000)
        where = f"{pool['symbol0']}/{pool['symbol1']} {pool['fee']}"
        assert got == quote[0], where
        assert quote[2] >= 1, where  # initializedTicksCrossed
        after = contract.functions.liquidity().call()
        assert after != before, where
        assert after == active_liquidity(pool, contract.functions.slot0().call()[1]), where
