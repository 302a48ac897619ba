"""Screen wide with floats, confirm narrow with exact ints: health factors over every position.

`HealthBook` keeps float64 columns beside the exact state, one row per account and one column
per asset: `amounts` is (2m, n), collateral then debt, in *scaled* units (Aave scaled balances
weighted by the account's LT relative to the asset's; Venus vToken balances of entered markets
and principal / interestIndex), so index accrual and price moves touch only the per-asset
vectors. `sweep(book, prices)` is a few whole-column multiply-adds and a division: no loop
over positions.
A price update re-screens only the rows holding that asset. `at_risk(threshold)` gives the
candidates; `confirm_aave` / `confirm_venus` answer with the exact models.

Venus has no health factor on chain: here HF = sumCollateral (liquidation-threshold weighted,
getAccountLiquidity's) * 1e18 // sumBorrow, so HF < 1e18 exactly when shortfall > 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import venus
from tallyio.protocols.aave_v3_math import MAX_UINT256
from tallyio.state.positions import (
    AaveMarketRef,
    Get,
    VenusRef,
    aave_inputs,
    aave_position,
    account_key,
    reserve_key,
    venus_assets,
    venus_position,
)
from tallyio.state.prices import price_key
from tallyio.state.store import Delta

F64 = npt.NDArray[np.float64]
MAX_HF = MAX_UINT256
RAY = 1e27


def sweep(book: HealthBook, prices: F64) -> F64:
    """Health factors of every position at `prices` (one per asset); inf without debt.

    Elementwise over whole columns (the loop runs over the few assets, never over positions),
    so no BLAS threads fight over a busy machine.
    """
    return _ratio(*_sums(book, prices))


def _sums(book: HealthBook, prices: F64) -> tuple[F64, F64]:
    """Per account: weighted collateral and debt at `prices`."""
    a, m = book.amounts, len(prices)
    wc, wd = book.coll_factor * prices, book.debt_factor * prices
    coll, debt, tmp = a[0] * wc[0], a[m] * wd[0], np.empty(a.shape[1])
    for j in range(1, m):
        coll += np.multiply(a[j], wc[j], out=tmp)
        debt += np.multiply(a[m + j], wd[j], out=tmp)
    return coll, debt


def _ratio(coll: F64, debt: F64) -> F64:
    out = np.full(len(coll), np.inf)
    np.divide(coll, debt, out=out, where=debt > 0)
    return out


# Incremental sums drift by float rounding; past this many moves they are summed afresh.
RESUM_EVERY = 256


@dataclass(slots=True)
class HealthBook:
    """Columns: `amounts` is (2m, n) - rows 0..m-1 scaled collateral, m..2m-1 scaled debt.
    `coll` and `debt` keep each account's weighted sums, so one asset's move is two
    multiply-adds over the book and a division, not a sweep over every asset."""

    accounts: list[str]
    assets: list[str]
    amounts: F64  # (2m, n)
    coll_factor: F64  # (m,) scaled collateral -> LT-weighted value per unit of price
    debt_factor: F64  # (m,) scaled debt -> value per unit of price
    prices: F64  # (m,)
    hf: F64 = field(default_factory=lambda: np.zeros(0))
    coll: F64 = field(default_factory=lambda: np.zeros(0))
    debt: F64 = field(default_factory=lambda: np.zeros(0))
    _rows: dict[str, int] = field(default_factory=dict)
    _moves: int = 0

    def __post_init__(self) -> None:
        self._rows = {a: i for i, a in enumerate(self.accounts)}
        self._resum()

    def _resum(self) -> None:
        self.coll, self.debt = _sums(self, self.prices)
        self.hf, self._moves = _ratio(self.coll, self.debt), 0

    def holders(self, j: int) -> npt.NDArray[np.intp]:
        m = len(self.assets)
        return np.flatnonzero((self.amounts[j] != 0) | (self.amounts[m + j] != 0))

    def rescreen(self, rows: npt.NDArray[np.intp]) -> None:
        """Recompute `rows` only; past 1/8 of the book a full sweep is cheaper than gathers."""
        if len(rows) * 8 > len(self.accounts):
            self._resum()
            return
        m = len(self.assets)
        sub = self.amounts[:, rows]
        coll = (self.coll_factor * self.prices) @ sub[:m]
        debt = (self.debt_factor * self.prices) @ sub[m:]
        self.coll[rows], self.debt[rows] = coll, debt
        self.hf[rows] = _ratio(coll, debt)

    def set_price(self, asset: str, price: float) -> None:
        """A feed moved: re-screen only the accounts holding `asset`."""
        j = self.assets.index(asset)
        self._move(j, float(self.coll_factor[j]), float(self.debt_factor[j]), price)

    def set_factors(self, asset: str, coll: float, debt: float) -> None:
        j = self.assets.index(asset)
        self._move(j, coll, debt, float(self.prices[j]))

    def set_asset(self, asset: str, coll: float, debt: float, price: float) -> None:
        """Factors and price of one asset at once: one re-screen of its holders, not two."""
        self._move(self.assets.index(asset), coll, debt, price)

    def _move(self, j: int, coll: float, debt: float, price: float) -> None:
        """Asset j's weights change: its part of every account's sums moves by the difference
        (an account without the asset adds an exact zero)."""
        dc = coll * price - float(self.coll_factor[j] * self.prices[j])
        dd = debt * price - float(self.debt_factor[j] * self.prices[j])
        self.coll_factor[j], self.debt_factor[j], self.prices[j] = coll, debt, price
        if not (dc or dd):
            return
        self._moves += 1
        if self._moves >= RESUM_EVERY:
            self._resum()
            return
        m = len(self.assets)
        if dc:
            self.coll += self.amounts[j] * dc
        if dd:
            self.debt += self.amounts[m + j] * dd
        self.hf = _ratio(self.coll, self.debt)

    def set_row(self, account: str, row: F64) -> None:
        i = self._rows.get(account)
        if i is None:
            i = len(self.accounts)
            self.accounts.append(account)
            self._rows[account] = i
            self.amounts = np.hstack([self.amounts, row[:, None]])
            self.hf = np.append(self.hf, np.inf)
            self.coll, self.debt = np.append(self.coll, 0.0), np.append(self.debt, 0.0)
        else:
            self.amounts[:, i] = row
        self.rescreen(np.array([i]))

    def at_risk(self, threshold: float = 1.0) -> list[str]:
        return [self.accounts[i] for i in np.flatnonzero(self.hf < threshold)]


# -- building rows from the exact state -----------------------------------------------------
def aave_row(get: Get, ref: AaveMarketRef, user: str, ts: int) -> F64:
    reserves, emodes = aave_inputs(get, ref)
    account = get(account_key("aave_v3", ref.pool, user))
    m, row = len(ref.reserves), np.zeros(2 * len(ref.reserves))
    if account is None:
        return row
    cat = emodes.get(account.emode_category)
    for j, r in enumerate(ref.reserves):
        data, pos = reserves[r.asset], aave_position(account, r.asset)
        if pos.using_as_collateral and data.liquidation_threshold:
            lt = cat.liquidation_threshold if cat and data.emode_category == cat.id else 0
            row[j] = pos.scaled_a_token_balance * (lt or data.liquidation_threshold)
            row[j] /= data.liquidation_threshold
        if pos.borrowing:
            stable = aave.stable_debt_of(pos, ts) * RAY / aave.get_normalized_debt(data, ts)
            row[m + j] = pos.scaled_variable_debt + stable
    return row


def aave_factors(get: Get, ref: AaveMarketRef, ts: int) -> tuple[F64, F64, F64]:
    reserves, _ = aave_inputs(get, ref)
    coll, debt, prices = (np.zeros(len(ref.reserves)) for _ in range(3))
    for j, r in enumerate(ref.reserves):
        d = reserves[r.asset]
        unit = 10.0**d.decimals
        coll[j] = aave.get_normalized_income(d, ts) / RAY * d.liquidation_threshold / 1e4 / unit
        debt[j] = aave.get_normalized_debt(d, ts) / RAY / unit
        prices[j] = float(d.price)
    return coll, debt, prices


def venus_row(get: Get, ref: VenusRef, user: str) -> F64:
    account = get(account_key("venus", ref.comptroller, user))
    m, row = len(ref.markets), np.zeros(2 * len(ref.markets))
    if account is None:
        return row
    for j, mk in enumerate(ref.markets):
        if mk.vtoken in account.assets_in:
            pos = venus_position(account, mk.vtoken)
            row[j] = float(pos.vtoken_balance)
            if pos.borrow_principal:
                row[m + j] = pos.borrow_principal / pos.interest_index
    return row


def venus_factors(get: Get, ref: VenusRef) -> tuple[F64, F64, F64]:
    coll, debt, prices = (np.zeros(len(ref.markets)) for _ in range(3))
    for j, mk in enumerate(ref.markets):
        market = get(reserve_key("venus", ref.comptroller, mk.vtoken))
        rate = venus.exchange_rate_stored(market.state)
        coll[j] = rate / 1e18 * market.liquidation_threshold / 1e18
        debt[j] = float(market.state.borrow_index)
        prices[j] = get(price_key("venus", ref.comptroller, mk.vtoken)) / 1e18
    return coll, debt, prices


def from_state(
    get: Get, ref: AaveMarketRef | VenusRef, accounts: Sequence[str], ts: int
) -> HealthBook:
    """A book over `accounts` of one market, from the exact state at time `ts`."""
    if isinstance(ref, AaveMarketRef):
        coll, debt, prices = aave_factors(get, ref, ts)
        rows = [aave_row(get, ref, a, ts) for a in accounts]
        assets = [r.asset for r in ref.reserves]
    else:
        coll, debt, prices = venus_factors(get, ref)
        rows = [venus_row(get, ref, a) for a in accounts]
        assets = [mk.vtoken for mk in ref.markets]
    amounts = np.array(rows).T.copy() if rows else np.zeros((2 * len(assets), 0))
    return HealthBook(list(accounts), assets, amounts, coll, debt, prices)


def on_deltas(book: HealthBook, deltas: Iterable[Delta], get: Get, ref: Any, ts: int) -> None:
    """Keep `book` current from the store's deltas: rows, factors and prices of this market."""
    market = ref.pool if isinstance(ref, AaveMarketRef) else ref.comptroller
    protocol = "aave_v3" if isinstance(ref, AaveMarketRef) else "venus"
    for d in deltas:
        key = d.key
        if not isinstance(key, tuple) or len(key) != 4 or key[1:3] != (protocol, market):
            continue
        if key[0] == "account":
            row = (
                aave_row(get, ref, key[3], ts)
                if protocol == "aave_v3"
                else venus_row(get, ref, key[3])
            )
            book.set_row(key[3], row)
        elif key[0] in ("price", "reserve") and key[3] in book.assets:
            j = book.assets.index(key[3])
            f = aave_factors(get, ref, ts) if protocol == "aave_v3" else venus_factors(get, ref)
            book.set_asset(key[3], float(f[0][j]), float(f[1][j]), float(f[2][j]))
        if protocol == "aave_v3" and _emode_weights_moved(key[0], d):
            _reweigh_emode_rows(book, get, ref, ts)


def _emode_weights_moved(kind: str, d: Delta) -> bool:
    """An e-mode category, or a reserve's LT or category, changed (PoolConfigurator): the rows
    of accounts in e-mode hold their collateral weighted by emode LT / reserve LT."""
    before, after = d.before, d.after
    if kind == "emode":
        return True
    return kind == "reserve" and before is not None and (
        (before.liquidation_threshold, before.emode_category)
        != (after.liquidation_threshold, after.emode_category)
    )  # fmt: skip


def _reweigh_emode_rows(book: HealthBook, get: Get, ref: AaveMarketRef, ts: int) -> None:
    """Rebuild the rows of accounts in any e-mode (governance changes are rare; others keep
    weight 1, which the reserve's new factor already covers)."""
    for user in list(book.accounts):
        account = get(account_key("aave_v3", ref.pool, user))
        if account is not None and account.emode_category:
            book.set_row(user, aave_row(get, ref, user, ts))


# -- exact confirmation ---------------------------------------------------------------------
def confirm_aave(
    get: Get, ref: AaveMarketRef, users: Iterable[str], ts: int
) -> list[tuple[str, int]]:
    """(user, exact health factor) by GenericLogic.calculateUserAccountData at `ts`."""
    reserves, emodes = aave_inputs(get, ref)
    return [(u, aave_account_data(reserves, emodes, get, ref, u, ts).health_factor) for u in users]


def aave_account_data(
    reserves: dict[str, aave.ReserveData], emodes: dict[int, aave.EModeCategory],
    get: Get, ref: AaveMarketRef, user: str, ts: int,
) -> aave.AccountData:  # fmt: skip
    account = get(account_key("aave_v3", ref.pool, user)) or aave.UserAccount(())
    emode = emodes.get(account.emode_category)
    return aave.calculate_user_account_data(reserves, account, ts, emode)


def venus_health(assets: Sequence[venus.AccountAsset]) -> tuple[int, int, int]:
    """(HF 1e18-scaled, LT-weighted collateral, debt) from getAccountLiquidity's two sums."""
    result = venus.get_hypothetical_account_liquidity(assets)
    coll, debt = result.sum_collateral, result.sum_borrow_plus_effects
    return (coll * 10**18 // debt if debt else MAX_HF), coll, debt


def confirm_venus(get: Get, ref: VenusRef, users: Iterable[str]) -> list[tuple[str, int]]:
    out = []
    for u in users:
        account = get(account_key("venus", ref.comptroller, u))
        assets = venus_assets(get, ref, account) if account else []
        out.append((u, venus_health(assets)[0]))
    return out
