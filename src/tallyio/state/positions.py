"""Lending positions as exact state entries, kept current by events alone (no RPC).

Keys (addresses lowercase):
  ("reserve", "aave_v3", pool, asset)   -> aave_v3.ReserveData (price 0: prices live apart)
  ("emode", "aave_v3", pool, id)        -> aave_v3.EModeCategory (price 0)
  ("account", "aave_v3", pool, user)    -> aave_v3.UserAccount (non-empty positions, by asset)
  ("reserve", "venus", comptroller, vt) -> VenusMarket
  ("account", "venus", comptroller, a)  -> VenusAccount
  ("close_factor", "venus", comptroller) -> Comptroller.closeFactorMantissa
  ("treasury_percent", "venus", comptroller) -> Comptroller.treasuryPercent (redeem fee)
  prices.price_key(...)                 -> oracle price; prices.CLOCK_KEY -> (block, timestamp)

An account appears the first time an event moves its balances (borrower discovery); the Aave
handlers live in aave_handlers.py, the Venus ones in venus_handlers.py, the configuration
events' (risk parameters, e-modes, oracle sources) in config_handlers.py, the values and keys in
lending_keys.py. `lending_handlers` merges them (and the price and clock handlers) by topic0
for `MarketState`; the exact account views are below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from tallyio.core.events import Log
from tallyio.core.memo import Recent
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import venus
from tallyio.state.aave_handlers import _AaveHandlers, aave_position, with_aave_position
from tallyio.state.config_handlers import config_handlers
from tallyio.state.lending_keys import (
    AaveMarketRef,
    AaveReserveRef,
    Changes,
    VenusAccount,
    VenusMarket,
    VenusMarketRef,
    VenusPosition,
    VenusRef,
    account_key,
    emode_key,
    reserve_key,
)
from tallyio.state.prices import PriceTarget, price_handlers, price_key
from tallyio.state.store import Handler, StateKey, StateView
from tallyio.state.venus_handlers import _VenusHandlers, venus_position, with_venus_position

__all__ = [
    "AaveMarketRef", "AaveReserveRef", "Changes", "Get", "VenusAccount", "VenusMarket",
    "VenusMarketRef", "VenusPosition", "VenusRef", "aave_inputs", "aave_position", "account_key",
    "emode_ids", "emode_key", "lending_handlers", "merge_handlers", "reserve_key", "venus_assets",
    "venus_position", "with_aave_position", "with_venus_position",
]  # fmt: skip


# -- assembly -----------------------------------------------------------------------------------
def merge_handlers(*maps: Mapping[str, Handler]) -> dict[str, Handler]:
    """One handler per topic0: several for one topic (Transfer, Mint) run in turn."""
    grouped: dict[str, list[Handler]] = {}
    for m in maps:
        for topic, h in m.items():
            grouped.setdefault(topic.lower(), []).append(h)
    return {t: hs[0] if len(hs) == 1 else _chain(hs) for t, hs in grouped.items()}


def _chain(handlers: list[Handler]) -> Handler:
    def run(log: Log, view: StateView) -> Changes:
        out: Changes = []
        for h in handlers:
            out += h(log, view)
        return out

    return run


def lending_handlers(
    aave_refs: Iterable[AaveMarketRef],
    venus_refs: Iterable[VenusRef],
    price_targets: Iterable[PriceTarget],
) -> dict[str, Handler]:
    """Every handler the lending state needs, keyed by topic0, for `MarketState`."""
    aave_refs, venus_refs = list(aave_refs), list(venus_refs)
    maps: list[Mapping[str, Handler]] = [price_handlers(price_targets)]
    maps += [_AaveHandlers(r).handlers() for r in aave_refs]
    maps += [_VenusHandlers(r).handlers() for r in venus_refs]
    maps += config_handlers(aave_refs, venus_refs)
    return merge_handlers(*maps)


# -- exact account views ------------------------------------------------------------------------
Get = Callable[[StateKey], Any]


_RESERVES: Recent[dict[str, aave.ReserveData]] = Recent(64)
_KEYS: Recent[tuple[StateKey, ...]] = Recent(64)


def _reserve_keys(ref: AaveMarketRef) -> tuple[StateKey, ...]:
    """(reserve, price) state keys of each of the ref's reserves, in order, flattened."""

    def make() -> tuple[StateKey, ...]:
        pool = ref.pool
        pairs = [(reserve_key("aave_v3", pool, r.asset), price_key("aave_v3", pool, r.asset))
                 for r in ref.reserves]  # fmt: skip
        return tuple(k for pair in pairs for k in pair)

    return _KEYS.get(ref, make)


def aave_inputs(
    get: Get, ref: AaveMarketRef
) -> tuple[dict[str, aave.ReserveData], dict[int, aave.EModeCategory]]:
    """The market's reserves (with oracle prices) and e-mode categories, from the state.
    The reserves are made again only when an entry they come from changed (a dataclass copy
    per reserve is most of a liquidation's re-pricing otherwise); treat them as read-only."""
    reads = tuple(get(k) for k in _reserve_keys(ref))

    def make() -> dict[str, aave.ReserveData]:
        pairs = zip(reads[::2], reads[1::2], strict=True)
        return {data.asset: replace(data, price=price) for data, price in pairs}

    reserves = _RESERVES.get(ref, make, *reads)
    emodes = {}
    for c in emode_ids(ref, reserves.values()):
        cat = get(emode_key(ref.pool, c))
        if cat is not None and cat.price_source != aave.ZERO_ADDRESS:
            cat = replace(cat, price=get(price_key("aave_v3", ref.pool, cat.price_source)))
        if cat is not None:
            emodes[c] = cat
    return reserves, emodes


def emode_ids(ref: AaveMarketRef, reserves: Iterable[aave.ReserveData]) -> list[int]:
    """The ref's e-mode categories and any a reserve was moved into (EModeAssetCategoryChanged)."""
    return sorted(set(ref.emode_categories) | {r.emode_category for r in reserves} - {0})


def venus_assets(get: Get, ref: VenusRef, account: VenusAccount) -> list[venus.AccountAsset]:
    """getAccountLiquidity's inputs: the account's entered markets, stored (not accrued)."""
    out = []
    for vt in account.assets_in:
        market: VenusMarket = get(reserve_key("venus", ref.comptroller, vt))
        pos = venus_position(account, vt)
        out.append(
            venus.AccountAsset(
                vtoken=vt,
                vtoken_balance=pos.vtoken_balance,
                borrow_balance=venus.borrow_balance_stored(
                    pos.borrow_principal, pos.interest_index, market.state.borrow_index
                ),
                exchange_rate=venus.exchange_rate_stored(market.state),
                price=get(price_key("venus", ref.comptroller, vt)),
                collateral_factor=market.collateral_factor,
                liquidation_threshold=market.liquidation_threshold,
                liquidation_incentive=market.liquidation_incentive,
            )
        )
    return out
