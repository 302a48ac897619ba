"""Market configuration kept by events: what governance changes under the account math.

Aave: the PoolConfigurator's events rewrite a reserve's risk parameters (ltv, liquidation
threshold and bonus, protocol fee), its active / paused flags and e-mode category, and the
e-mode categories themselves, as `setConfiguration` / `configureEModeCategory` store them; the
AaveOracle's AssetSourceUpdated re-points an asset at another feed (prices.py keeps every feed's
latest answer, so the new price is known at once). Venus: the comptroller's core-pool collateral
factor, liquidation threshold and incentive per market, the close factor and the treasury
percent (the fee every redeem pays).

Events from other addresses (another market's configurator, another Aave fork's) change nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tallyio.core.events import Log
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import config_events as cev
from tallyio.state.lending_keys import (
    AaveMarketRef,
    Changes,
    VenusRef,
    close_factor_key,
    emode_key,
    reserve_key,
    treasury_percent_key,
)
from tallyio.state.prices import feed_key, price_key, source_key
from tallyio.state.store import Handler, StateInvariantError, StateView

CORE_POOL_ID = 0  # Venus v10: the state keeps the core pool's parameters (Comptroller.markets)


class _AaveConfigHandlers:
    def __init__(self, ref: AaveMarketRef) -> None:
        self.pool = ref.pool.lower()
        self.configurator = ref.configurator.lower()
        self.oracle = ref.oracle.lower()
        self.assets = {r.asset.lower() for r in ref.reserves}

    def _reserve(self, view: StateView, asset: str) -> tuple[Any, aave.ReserveData]:
        key = reserve_key("aave_v3", self.pool, asset)
        data = view.get(key)
        if data is None:
            raise StateInvariantError(f"configuration event for unknown Aave reserve {asset}")
        return key, data

    def reserve(self, log: Log, view: StateView) -> Changes:
        if not self.configurator or log.address.lower() != self.configurator:
            return []
        e = cev.decode_reserve_setting(log)
        if e.asset not in self.assets:
            return []  # a reserve this state does not follow
        key, data = self._reserve(view, e.asset)
        t = log.topics[0]
        if t == cev.COLLATERAL_CONFIGURATION_CHANGED:
            ltv, lt, bonus = e.values
            new = replace(data, ltv=ltv, liquidation_threshold=lt, liquidation_bonus=bonus)
        elif t == cev.LIQUIDATION_PROTOCOL_FEE_CHANGED:
            new = replace(data, liquidation_protocol_fee=e.values[0])
        elif t == cev.RESERVE_ACTIVE:
            new = replace(data, active=bool(e.values[0]))
        elif t == cev.RESERVE_PAUSED:
            new = replace(data, paused=bool(e.values[0]))
        else:  # EModeAssetCategoryChanged
            new = replace(data, emode_category=e.values[0])
        return [(key, new)]

    def emode_category(self, log: Log, view: StateView) -> Changes:
        if not self.configurator or log.address.lower() != self.configurator:
            return []
        e = cev.decode_emode_category_added(log)
        cat = aave.EModeCategory(
            e.category, e.ltv, e.liquidation_threshold, e.liquidation_bonus, e.oracle, 0
        )
        return [(emode_key(self.pool, e.category), cat)]

    def asset_source(self, log: Log, view: StateView) -> Changes:
        """AaveOracle.getAssetPrice now reads `source`: its latest answer is the price."""
        if not self.oracle or log.address.lower() != self.oracle:
            return []
        asset, source = cev.decode_asset_source_updated(log)
        if asset not in self.assets:
            return []
        answer = view.get(feed_key(source))
        if source == aave.ZERO_ADDRESS or answer is None or answer <= 0:
            # The oracle would ask its fallback, or a feed whose answer this state never saw
            # (a proxy, or one quiet since the snapshot): reload rather than guess a price.
            raise StateInvariantError(
                f"AaveOracle moved {asset} to source {source} (answer {answer}): reload a snapshot"
            )
        return [
            (source_key("aave_v3", self.pool, asset), source),
            (price_key("aave_v3", self.pool, asset), answer),
        ]

    def handlers(self) -> dict[str, Handler]:
        out: dict[str, Handler] = {t: self.reserve for t in cev.AAVE_CONFIGURATOR_TOPICS}
        out[cev.EMODE_CATEGORY_ADDED] = self.emode_category
        return out | {cev.ASSET_SOURCE_UPDATED: self.asset_source}


class _VenusConfigHandlers:
    def __init__(self, ref: VenusRef) -> None:
        self.comptroller = ref.comptroller.lower()
        self.vtokens = {m.vtoken.lower() for m in ref.markets}

    def market(self, log: Log, view: StateView) -> Changes:
        if log.address.lower() != self.comptroller:
            return []
        e = cev.decode_venus_market_setting(log)
        if e.pool_id != CORE_POOL_ID or e.vtoken not in self.vtokens:
            return []  # another pool's (e-mode) parameters: markets(vToken) reads the core pool
        key = reserve_key("venus", self.comptroller, e.vtoken)
        market = view.get(key)
        if market is None:
            raise StateInvariantError(f"no Venus market {e.vtoken} in state")
        field = {
            cev.V_NEW_COLLATERAL_FACTOR: "collateral_factor",
            cev.V_NEW_LIQUIDATION_THRESHOLD: "liquidation_threshold",
            cev.V_NEW_LIQUIDATION_INCENTIVE: "liquidation_incentive",
        }[log.topics[0]]
        return [(key, replace(market, **{field: e.new}))]

    def close_factor(self, log: Log, view: StateView) -> Changes:
        if log.address.lower() != self.comptroller:
            return []
        return [(close_factor_key(self.comptroller), cev.decode_close_factor(log))]

    def treasury_percent(self, log: Log, view: StateView) -> Changes:
        if log.address.lower() != self.comptroller:
            return []
        return [(treasury_percent_key(self.comptroller), cev.decode_treasury_percent(log))]

    def handlers(self) -> dict[str, Handler]:
        out: dict[str, Handler] = {t: self.market for t in cev.VENUS_CONFIG_TOPICS[:3]}
        out[cev.V_NEW_TREASURY_PERCENT] = self.treasury_percent
        return out | {cev.V_NEW_CLOSE_FACTOR: self.close_factor}


def config_handlers(aave_refs: list[AaveMarketRef], venus_refs: list[VenusRef]) -> list[
        dict[str, Handler]]:  # fmt: skip
    """One handler map per market, for `merge_handlers`."""
    return [_AaveConfigHandlers(r).handlers() for r in aave_refs] + [
        _VenusConfigHandlers(r).handlers() for r in venus_refs
    ]
