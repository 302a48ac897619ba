"""Venus core-pool liquidations through the Liquidator contract (venus-protocol 10.x), exact.

Where the comptroller names a `liquidatorContract` (BNB Chain), only it may liquidate. Its
liquidateBorrow runs vToken.liquidateBorrow itself, so the repay and the seizure are
venus.liquidate_borrow's; then it splits the seized vTokens (split_liquidation_incentive), sends
the caller its share, and redeems the treasury's share in the same transaction (the underlying
goes to the ProtocolShareReserve). That redeem moves the collateral market's cash and supply
before the caller redeems its own vTokens, so the caller's redeem sees the rate after it.

Redeems here take no fee: the comptroller's treasuryPercent (a redeem fee) is zero, as the
rest of this package's Venus model assumes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tallyio.protocols.venus import (
    MarketState,
    exchange_rate_stored,
    mul_scalar_truncate,
    split_liquidation_incentive,
)

__all__ = ["LiquidatorSeizure", "VenusLiquidator", "liquidator_seizure", "redeem_fresh"]


@dataclass(frozen=True, slots=True)
class VenusLiquidator:
    """A Liquidator contract and its treasuryPercentMantissa (1e18 = the whole bonus)."""

    address: str
    treasury_percent: int


@dataclass(frozen=True, slots=True)
class LiquidatorSeizure:
    """What one liquidation through the Liquidator leaves the caller and the treasury."""

    treasury_tokens: int  # vTokens the Liquidator keeps and redeems for the share reserve
    liquidator_tokens: int  # vTokens the caller receives
    treasury_underlying: int  # underlying the treasury's redeem took out (0 if it failed)
    market: MarketState  # the collateral market after the treasury's redeem
    redeemed: int  # underlying the caller's redeem of all its vTokens pays (the rate after)


def redeem_fresh(market: MarketState, redeem_tokens: int) -> tuple[MarketState, int] | None:
    """VToken.redeemFresh for `redeem_tokens` in an accrued market: (market after, underlying
    paid), or None where the market cannot pay it out (the contract reverts)."""
    amount = mul_scalar_truncate(exchange_rate_stored(market), redeem_tokens)
    if amount > market.cash:
        return None
    after = replace(
        market, cash=market.cash - amount, total_supply=market.total_supply - redeem_tokens
    )
    return after, amount


def liquidator_seizure(
    collateral: MarketState, seize_tokens: int, liquidation_incentive: int, treasury_percent: int
) -> LiquidatorSeizure | None:
    """Liquidator.liquidateBorrow after the seizure of `seize_tokens`, and the caller's redeem.

    `collateral` is the collateral market accrued to the block and, when the debt is in the same
    market, with the repay already in its cash and out of its borrows. None when the caller's
    redeem cannot be paid out. A treasury redeem the market cannot pay is left pending by the
    Liquidator (try/catch): nothing moves then."""
    ours, theirs = split_liquidation_incentive(
        seize_tokens, liquidation_incentive, treasury_percent
    )
    market, taken = collateral, 0
    treasury = redeem_fresh(collateral, ours) if ours else None
    if treasury is not None:
        market, taken = treasury
    caller = redeem_fresh(market, theirs)
    if caller is None:
        return None
    return LiquidatorSeizure(ours, theirs, taken, market, caller[1])
