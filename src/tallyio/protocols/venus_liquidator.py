"""Venus core-pool liquidations through the Liquidator contract (venus-protocol 10.x), exact.

Where the comptroller names a `liquidatorContract` (BNB Chain), only it may liquidate. Its
liquidateBorrow runs vToken.liquidateBorrow itself, so the repay and the seizure are
venus.liquidate_borrow's; then it splits the seized vTokens (split_liquidation_incentive), sends
the caller its share, and redeems the treasury's share in the same transaction (the underlying
goes to the ProtocolShareReserve). That redeem moves the collateral market's cash and supply
before the caller redeems its own vTokens, so the caller's redeem sees the rate after it.

Every redeem pays the comptroller's redeem fee (treasuryPercent, venus.redeem_fee) to its
treasuryAddress, the Liquidator's own included: the share reserve gets the treasury's redeem less
that fee, the caller its own less it. The market's cash falls by the whole amount either way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tallyio.protocols.venus import (
    MarketState,
    exchange_rate_stored,
    mul_scalar_truncate,
    redeem_fee,
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
    treasury_underlying: int  # underlying the share reserve got (redeem less its fee; 0: failed)
    market: MarketState  # the collateral market after the treasury's redeem
    redeemed: int  # underlying the caller's redeem of all its vTokens pays (the rate after)
    redeem_fees: int = 0  # underlying both redeems paid the comptroller's treasuryAddress


def redeem_fresh(
    market: MarketState, redeem_tokens: int, treasury_percent: int = 0
) -> tuple[MarketState, int] | None:
    """VToken.redeemFresh for `redeem_tokens` in an accrued market: (market after, underlying
    paid to the redeemer, the comptroller's `treasury_percent` fee taken), or None where the
    market cannot pay it out (the contract reverts)."""
    amount = mul_scalar_truncate(exchange_rate_stored(market), redeem_tokens)
    if amount > market.cash:
        return None
    after = replace(
        market, cash=market.cash - amount, total_supply=market.total_supply - redeem_tokens
    )
    return after, redeem_fee(amount, treasury_percent)[1]


def liquidator_seizure(
    collateral: MarketState,
    seize_tokens: int,
    liquidation_incentive: int,
    treasury_percent: int,
    redeem_fee_percent: int = 0,
) -> LiquidatorSeizure | None:
    """Liquidator.liquidateBorrow after the seizure of `seize_tokens`, and the caller's redeem.

    `collateral` is the collateral market accrued to the block and, when the debt is in the same
    market, with the repay already in its cash and out of its borrows. `treasury_percent` is the
    Liquidator's (its cut of the bonus), `redeem_fee_percent` the comptroller's treasuryPercent
    (the fee on each redeem). None when the caller's redeem cannot be paid out. A treasury
    redeem the market cannot pay is left pending by the Liquidator (try/catch): nothing moves
    then."""
    ours, theirs = split_liquidation_incentive(
        seize_tokens, liquidation_incentive, treasury_percent
    )
    market, taken = collateral, 0
    treasury = redeem_fresh(collateral, ours, redeem_fee_percent) if ours else None
    if treasury is not None:
        market, taken = treasury
    caller = redeem_fresh(market, theirs, redeem_fee_percent)
    if caller is None:
        return None
    fees = collateral.cash - caller[0].cash - taken - caller[1]
    return LiquidatorSeizure(ours, theirs, taken, market, caller[1], fees)
