"""Two Uniswap V2 venues on the devnet, "uniswap_v2" and a "sushiswap" fork, from the npm bytecode.

The npm pair bytecode hashes to the init-code hash compiled into Router02, so the published
router works against a local factory. The fork quotes a few pairs a little off the reference
prices, so cross-venue arbitrage exists from the first block.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from web3.contract import Contract

from tallyio.devnet.context import DECIMALS, PRICES_USD_8, DeployContext
from tallyio.devnet.deployer import load_artifact

FACTORY = "@uniswap/v2-core/build/UniswapV2Factory.json"
PAIR = "@uniswap/v2-core/build/UniswapV2Pair.json"
ROUTER = "@uniswap/v2-periphery/build/UniswapV2Router02.json"
FEE_BPS = 30

# "BASE/QUOTE": the skew below moves the base token's price.
PAIRS: tuple[tuple[str, str], ...] = (
    ("WETH", "USDC"),
    ("WETH", "DAI"),
    ("WBTC", "WETH"),
    ("USDC", "DAI"),
    ("WBTC", "USDC"),
)


@dataclass(frozen=True, slots=True)
class Venue:
    name: str
    side_usd: int  # USD on each side of every pair
    skew_bps: Mapping[str, int]  # "BASE/QUOTE" -> base price above (+) or below (-) reference


VENUES: tuple[Venue, ...] = (
    Venue("uniswap_v2", 2_000_000, {}),
    # WETH/USDC is off by more than two 0.3% fees, so a V2 <-> V2 round trip pays by itself;
    # the smaller skews pay only against the cheaper V3 tiers or around a triangle.
    Venue("sushiswap", 1_500_000, {"WETH/USDC": 80, "WBTC/WETH": -50, "WETH/DAI": 40}),
)


# -- pure helpers (uniswap_v3 uses them too) ------------------------------------------------
def usd_to_units(usd: int, price_usd_8: int, decimals: int) -> int:
    """Whole USD -> base units of a token priced at `price_usd_8` (8 decimals), floored."""
    return usd * 10**8 * 10**decimals // price_usd_8


def skew_price(price_usd_8: int, bps: int) -> int:
    return price_usd_8 * (10_000 + bps) // 10_000


def sort_tokens(a: str, b: str) -> tuple[str, str]:
    """Uniswap orders a pool's tokens by address value."""
    return (a, b) if int(a, 16) < int(b, 16) else (b, a)


def pair_reserves(base: str, quote: str, side_usd: int, skew_bps: int = 0) -> dict[str, int]:
    """Reserves worth `side_usd` on each side, the base priced `skew_bps` off the reference."""
    base_price = skew_price(PRICES_USD_8[base], skew_bps)
    return {
        base: usd_to_units(side_usd, base_price, DECIMALS[base]),
        quote: usd_to_units(side_usd, PRICES_USD_8[quote], DECIMALS[quote]),
    }


def totals(amounts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for amount in amounts:
        for symbol, value in amount.items():
            out[symbol] = out.get(symbol, 0) + value
    return out


def pool_entry(ctx: DeployContext, address: str, symbol_a: str, symbol_b: str) -> dict[str, Any]:
    """The manifest's view of a pool: address and both tokens in the pool's own order."""
    by_address: dict[str, str] = {ctx.tokens[s].address: s for s in (symbol_a, symbol_b)}
    token0, token1 = sort_tokens(*by_address)
    return {
        "address": address,
        "token0": token0,
        "token1": token1,
        "symbol0": by_address[token0],
        "symbol1": by_address[token1],
    }


def fund_lp(ctx: DeployContext, amounts: Mapping[str, int]) -> str:
    """Give the liquidity provider every token it will deposit; one transaction per token."""
    lp = ctx.accounts["lp"]
    for symbol, amount in amounts.items():
        ctx.fund(symbol, lp, amount)
    return lp


# -- deployment -----------------------------------------------------------------------------
def deploy(ctx: DeployContext) -> list[dict[str, Any]]:
    """Deploy every venue with all PAIRS seeded; one manifest entry per venue."""
    plans = {
        v.name: {
            f"{b}/{q}": pair_reserves(b, q, v.side_usd, v.skew_bps.get(f"{b}/{q}", 0))
            for b, q in PAIRS
        }
        for v in VENUES
    }
    fund_lp(ctx, totals(r for plan in plans.values() for r in plan.values()))
    return [deploy_venue(ctx, v.name, plans[v.name]) for v in VENUES]


def deploy_venue(
    ctx: DeployContext, name: str, plan: Mapping[str, Mapping[str, int]]
) -> dict[str, Any]:
    factory = ctx.d.deploy(load_artifact(FACTORY), ctx.deployer)
    router = ctx.d.deploy(load_artifact(ROUTER), factory.address, ctx.tokens["WETH"].address)
    return {
        "name": name,
        "factory": factory.address,
        "router": router.address,
        "init_code_hash": "0x" + keccak(hexstr=load_artifact(PAIR).bytecode).hex(),
        "fee_bps": FEE_BPS,
        "pairs": [seed_pair(ctx, factory, reserves) for reserves in plan.values()],
    }


def seed_pair(ctx: DeployContext, factory: Contract, reserves: Mapping[str, int]) -> dict[str, Any]:
    """Create the pair, transfer both reserves in and mint the LP tokens to the provider."""
    d, lp = ctx.d, ctx.accounts["lp"]
    a, b = reserves
    d.send(factory.functions.createPair(ctx.tokens[a].address, ctx.tokens[b].address))
    address = factory.functions.getPair(ctx.tokens[a].address, ctx.tokens[b].address).call()
    for symbol, amount in reserves.items():
        d.send(ctx.tokens[symbol].functions.transfer(address, amount), sender=lp)
    d.send(d.at(load_artifact(PAIR), address).functions.mint(lp))
    return pool_entry(ctx, address, a, b)
