"""Liquidation strategies for Aave V3 and Venus: pure, sized on the exact models.

For each account whose exact health is below one, every (debt asset, collateral asset) pair is
sized: the repayment `x` is searched (liquidation_sizing.maximize) on the market's own seize
math (Aave executeLiquidationCall: close factor, bonus, protocol fee; Venus liquidateBorrow at
the next block's accrual, then the redeem of the seized vTokens), the collateral's sale back to
the debt asset along the router's best route, the cheapest flash loan the route leaves usable,
and gas at the block's price in the debt asset. The best pair with a positive net becomes one
Opportunity: loan -> liquidation -> sale, profit in the debt asset.

`process(deltas, view, block)` looks at the accounts whose entries changed and, for a changed
price or reserve, at every account it knows holding that asset; `evaluate(accounts, ...)` is
the health monitor's direct entry. This module holds Aave's sizing; the shared shape is in
liquidation_base.py, Venus in liquidation_venus.py (re-exported here), one pair's sizing in
liquidation_pair.py, batching in liquidation_batch.py.
"""

from __future__ import annotations

from collections.abc import Iterable

from tallyio.core.opportunity import BlockContext
from tallyio.core.plan import AaveLiquidation, Action
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols.aave_v3_math import AaveMathError, percent_mul
from tallyio.state.positions import (
    AaveMarketRef,
    aave_inputs,
    account_key,
)
from tallyio.state.store import StateView
from tallyio.strategies.liquidation_base import HF_ONE, LendingLiquidation
from tallyio.strategies.liquidation_pair import Model, better, price_candidate, size_pair
from tallyio.strategies.liquidation_sizing import Candidate, LiquidationConfig
from tallyio.strategies.liquidation_venus import VenusLiquidation

__all__ = ["AaveV3Liquidation", "VenusLiquidation", "price_candidate", "size_pair"]


# -- Aave V3 ------------------------------------------------------------------------------------
class AaveV3Liquidation(LendingLiquidation):
    """Liquidations on one Aave V3 Pool (`liquidationCall`, collateral received as underlying).

    Sized at the block's timestamp: later, debt and collateral have only grown, so the close
    factor cap and the collateral balance the plan relies on still hold when it lands.
    """

    name = "aave_v3_liquidation"
    protocol = "aave_v3"

    def __init__(
        self, market: AaveMarketRef, config: LiquidationConfig, accounts: Iterable[str] = (),
        base_unit: int = 10**8,
    ) -> None:  # fmt: skip
        super().__init__(config, accounts)
        self.ref, self.market, self.base_unit = market, market.pool.lower(), base_unit
        self._decimals: dict[str, int] = {}
        self._prices: dict[str, int] = {}

    def best(self, user: str, view: StateView, block: BlockContext) -> Candidate | None:
        account = view.get(account_key("aave_v3", self.market, user))
        if account is None:
            return None
        reserves, emodes = aave_inputs(view.get, self.ref)
        self._decimals = {a: r.decimals for a, r in reserves.items()}
        self._prices = {a: r.price for a, r in reserves.items()}
        emode, ts = emodes.get(account.emode_category), block.timestamp
        hf = aave.calculate_user_account_data(reserves, account, ts, emode).health_factor
        if hf >= HF_ONE:
            return None
        debts = [p for p in account.positions if p.borrowing]
        colls = [p for p in account.positions if p.using_as_collateral and p.scaled_a_token_balance]
        best: Candidate | None = None
        for d in debts:
            owed = aave.ray_mul(d.scaled_variable_debt, aave.get_normalized_debt(
                reserves[d.asset], ts)) + aave.stable_debt_of(d, ts)  # fmt: skip
            hi = percent_mul(owed, aave.close_factor(hf))
            for c in colls:
                model = _aave_model(reserves, account, emode, ts, (d.asset, c.asset))
                pair = (d.asset, c.asset)
                found = self._size(view, block, pair, hi, model, self.config.gas.aave_liquidation)
                best = better(best, found)
        return best

    def _holds(self, view: StateView, user: str, assets: set[str]) -> bool:
        account = view.get(account_key("aave_v3", self.market, user))
        return account is not None and any(p.asset in assets for p in account.positions)

    def _in_emode(self, view: StateView, user: str, categories: set[int]) -> bool:
        account = view.get(account_key("aave_v3", self.market, user))
        return account is not None and account.emode_category in categories

    def _sales(
        self, view: StateView, user: str, block: BlockContext
    ) -> list[tuple[tuple[str, str], int]]:
        account = view.get(account_key("aave_v3", self.market, user))
        if account is None:
            return []
        reserves, _ = aave_inputs(view.get, self.ref)
        debts = [p.asset for p in account.positions if p.borrowing]
        out = []
        for c in account.positions:
            if c.using_as_collateral and c.scaled_a_token_balance and c.asset in reserves:
                income = aave.get_normalized_income(reserves[c.asset], block.timestamp)
                held = aave.ray_mul(c.scaled_a_token_balance, income)
                out += [((c.asset, d), held) for d in debts if d != c.asset]
        return out

    def _action(self, user: str, c: Candidate) -> Action:
        return AaveLiquidation(self.ref.pool, c.collateral_asset, c.debt_asset, user, c.amount)

    def _usd(self, token: str, amount: int, block: BlockContext) -> int:
        unit = 10 ** self._decimals.get(token, 18)
        return amount * self._prices.get(token, 0) // (unit * self.base_unit)


def _aave_model(
    reserves: dict[str, aave.ReserveData], account: aave.UserAccount,
    emode: aave.EModeCategory | None, ts: int, pair: tuple[str, str],
) -> Model:  # fmt: skip
    def model(x: int) -> tuple[int, int] | None:
        try:
            r = aave.execute_liquidation_call(
                reserves, account, collateral_asset=pair[1], debt_asset=pair[0],
                debt_to_cover=x, timestamp=ts, emode=emode,
            )  # fmt: skip
        except (aave.LiquidationCallError, AaveMathError):
            return None
        return r.debt_repaid, r.collateral_to_liquidator

    return model
