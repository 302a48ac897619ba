"""Uniswap V3 on the devnet from the npm bytecode: factory, SwapRouter, QuoterV2, positions.

The npm pool bytecode hashes to the init-code hash compiled into v3-periphery, so the
published router, quoter and position manager work against a local factory. Every pool sits
at the reference price with liquidity in nested ranges (full, ~20%, ~2%, ~0.5%), so a large
swap crosses initialized ticks and the active liquidity changes on the way.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from eth_abi import decode
from eth_utils import keccak
from web3.contract import Contract

from tallyio.devnet.context import DECIMALS, PRICES_USD_8, DeployContext
from tallyio.devnet.deployer import DeployError, load_artifact
from tallyio.devnet.uniswap_v2 import fund_lp, pool_entry, sort_tokens, totals, usd_to_units

CORE = "@uniswap/v3-core/artifacts/contracts"
PERIPHERY = "@uniswap/v3-periphery/artifacts/contracts"
FACTORY = f"{CORE}/UniswapV3Factory.sol/UniswapV3Factory.json"
POOL = f"{CORE}/UniswapV3Pool.sol/UniswapV3Pool.json"
ROUTER = f"{PERIPHERY}/SwapRouter.sol/SwapRouter.json"
QUOTER = f"{PERIPHERY}/lens/QuoterV2.sol/QuoterV2.json"
POSITION_MANAGER = f"{PERIPHERY}/NonfungiblePositionManager.sol/NonfungiblePositionManager.json"
ZERO = "0x0000000000000000000000000000000000000000"
FAR_DEADLINE = 2**64

MIN_TICK, MAX_TICK = -887272, 887272
# The factory enables 500/3000/10000; 100 (spacing 1) is the tier mainnet added later for stables.
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}
EXTRA_FEES = (100,)

POOLS: tuple[tuple[str, str, int], ...] = (  # base, quote, fee (hundredths of a bip)
    ("WETH", "USDC", 500),
    ("WETH", "USDC", 3000),
    ("WETH", "DAI", 500),
    ("WBTC", "WETH", 3000),
    ("WBTC", "USDC", 10000),
    ("USDC", "DAI", 100),
)
# (half-width in ticks around the price or None for the full range, at least that many
# tick spacings each side so nested ranges stay distinct in wide-spaced pools, USD per side).
# 1.0001**50 ~ 0.5%, **200 ~ 2%, **2000 ~ 22%.
RANGES: tuple[tuple[int | None, int, int], ...] = (
    (None, 0, 1_000_000),
    (2_000, 3, 500_000),
    (200, 2, 500_000),
    (50, 1, 250_000),
)
INCREASE_LIQUIDITY = "0x" + keccak(text="IncreaseLiquidity(uint256,uint128,uint256,uint256)").hex()


# -- pure helpers ---------------------------------------------------------------------------
def sqrt_price_x96(price0_usd_8: int, decimals0: int, price1_usd_8: int, decimals1: int) -> int:
    """sqrt(token1 base units per token0 base unit) as Q64.96, floored, from USD prices."""
    ratio_x192 = (price0_usd_8 * 10**decimals1 << 192) // (price1_usd_8 * 10**decimals0)
    return math.isqrt(ratio_x192)


def align_down(tick: int, spacing: int) -> int:
    return tick // spacing * spacing  # Python floors toward -inf, as the pool requires


def align_up(tick: int, spacing: int) -> int:
    return -(-tick // spacing) * spacing


def full_range(spacing: int) -> tuple[int, int]:
    return align_up(MIN_TICK, spacing), align_down(MAX_TICK, spacing)


def range_around(
    tick: int, half_width: int | None, spacing: int, min_spacings: int
) -> tuple[int, int]:
    """A spacing-aligned range holding `tick`, reaching `half_width` ticks (and at least
    `min_spacings` spacings) each side; the full range when `half_width` is None."""
    if half_width is None:
        return full_range(spacing)
    half = max(half_width, min_spacings * spacing)
    low, high = full_range(spacing)
    return max(align_down(tick - half, spacing), low), min(align_up(tick + half, spacing), high)


def position_amounts(symbol0: str, symbol1: str, usd: int) -> dict[str, int]:
    """Desired deposit per token; the position manager takes only what the range needs."""
    return {s: usd_to_units(usd, PRICES_USD_8[s], DECIMALS[s]) for s in (symbol0, symbol1)}


def ordered(ctx: DeployContext, base: str, quote: str) -> tuple[str, str]:
    """The pool's (symbol0, symbol1): tokens sorted by address."""
    token0, _ = sort_tokens(ctx.tokens[base].address, ctx.tokens[quote].address)
    return (base, quote) if token0 == ctx.tokens[base].address else (quote, base)


# -- deployment -----------------------------------------------------------------------------
def deploy(ctx: DeployContext) -> dict[str, Any]:
    """Deploy the protocol, create every pool in POOLS and seed it with RANGES."""
    d, weth = ctx.d, ctx.tokens["WETH"].address
    factory = d.deploy(load_artifact(FACTORY))
    for fee in EXTRA_FEES:
        d.send(factory.functions.enableFeeAmount(fee, TICK_SPACING[fee]))
    router = d.deploy(load_artifact(ROUTER), factory.address, weth)
    quoter = d.deploy(load_artifact(QUOTER), factory.address, weth)
    manager = d.deploy(load_artifact(POSITION_MANAGER), factory.address, weth, ZERO)
    lp = fund_lp(ctx, totals(_all_deposits(ctx)))
    for symbol in ctx.tokens:
        ctx.approve(symbol, lp, manager.address)
    return {
        "factory": factory.address,
        "router": router.address,
        "quoter": quoter.address,
        "position_manager": manager.address,
        "init_code_hash": "0x" + keccak(hexstr=load_artifact(POOL).bytecode).hex(),
        "pools": [seed_pool(ctx, factory, manager, base, quote, fee) for base, quote, fee in POOLS],
    }


def _all_deposits(ctx: DeployContext) -> Iterator[dict[str, int]]:
    for base, quote, _fee in POOLS:
        for _half, _spacings, usd in RANGES:
            yield position_amounts(*ordered(ctx, base, quote), usd)


def seed_pool(
    ctx: DeployContext, factory: Contract, manager: Contract, base: str, quote: str, fee: int
) -> dict[str, Any]:
    """Create and initialize the pool at the reference price, then mint every range in RANGES."""
    d = ctx.d
    symbol0, symbol1 = ordered(ctx, base, quote)
    token0, token1 = ctx.tokens[symbol0].address, ctx.tokens[symbol1].address
    sqrt_price = sqrt_price_x96(
        PRICES_USD_8[symbol0], DECIMALS[symbol0], PRICES_USD_8[symbol1], DECIMALS[symbol1]
    )
    d.send(manager.functions.createAndInitializePoolIfNecessary(token0, token1, fee, sqrt_price))
    address = factory.functions.getPool(token0, token1, fee).call()
    tick = d.at(load_artifact(POOL), address).functions.slot0().call()[1]
    spacing = TICK_SPACING[fee]
    positions = []
    for half, min_spacings, usd in RANGES:
        lower, upper = range_around(tick, half, spacing, min_spacings)
        amounts = position_amounts(symbol0, symbol1, usd)
        params = (token0, token1, fee, lower, upper, amounts[symbol0], amounts[symbol1],
                  0, 0, ctx.accounts["lp"], FAR_DEADLINE)  # fmt: skip
        receipt = d.send(manager.functions.mint(params), sender=ctx.accounts["lp"])
        token_id, liquidity = _minted(receipt, manager.address)
        positions.append(
            {"token_id": token_id, "tick_lower": lower, "tick_upper": upper, "liquidity": liquidity}
        )
    entry = pool_entry(ctx, address, symbol0, symbol1)
    return {**entry, "fee": fee, "tick_spacing": spacing, "positions": positions}


def _minted(receipt: dict[str, Any], manager: str) -> tuple[int, int]:
    """(tokenId, liquidity) from the position manager's IncreaseLiquidity event."""
    for log in receipt["logs"]:
        if log["address"].lower() == manager.lower() and log["topics"][0] == INCREASE_LIQUIDITY:
            liquidity, _amount0, _amount1 = decode(
                ["uint128", "uint256", "uint256"], bytes.fromhex(log["data"][2:])
            )
            return int(log["topics"][1], 16), int(liquidity)
    raise DeployError("mint emitted no IncreaseLiquidity event")
