"""Lending positions as exact state entries, kept current by events alone (no RPC).

Keys (addresses lowercase):
  ("reserve", "aave_v3", pool, asset)   -> aave_v3.ReserveData (price 0: prices live apart)
  ("emode", "aave_v3", pool, id)        -> aave_v3.EModeCategory (price 0)
  ("account", "aave_v3", pool, user)    -> aave_v3.UserAccount (non-empty positions, by asset)
  ("reserve", "venus", comptroller, vt) -> VenusMarket
  ("account", "venus", comptroller, a)  -> VenusAccount
  prices.price_key(...)                 -> oracle price; prices.CLOCK_KEY -> (block, timestamp)

An account appears the first time an event moves its balances (borrower discovery); the Aave
handlers live in `positions_aave` terms below, the Venus ones after them. `lending_handlers`
merges them (and the price and clock handlers) by topic0 for `MarketState`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tallyio.core.events import Log
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import lending_events as ev
from tallyio.protocols import venus
from tallyio.state.prices import PriceTarget, now, price_handlers, price_key
from tallyio.state.store import Handler, StateInvariantError, StateKey, StateView

Changes = list[tuple[StateKey, Any]]


@dataclass(frozen=True, slots=True)
class AaveReserveRef:
    asset: str
    a_token: str
    variable_debt_token: str
    stable_debt_token: str


@dataclass(frozen=True, slots=True)
class AaveMarketRef:
    pool: str
    reserves: tuple[AaveReserveRef, ...]
    oracle: str = ""  # AaveOracle (the loader reads prices there)
    emode_categories: tuple[int, ...] = (1,)


@dataclass(frozen=True, slots=True)
class VenusMarketRef:
    vtoken: str
    underlying: str
    decimals: int
    initial_exchange_rate: int


@dataclass(frozen=True, slots=True)
class VenusRef:
    comptroller: str
    markets: tuple[VenusMarketRef, ...]
    oracle: str = ""  # ResilientOracle


@dataclass(frozen=True, slots=True)
class VenusMarket:
    """A vToken's stored market state and its Comptroller risk parameters (1e18)."""

    vtoken: str
    state: venus.MarketState
    collateral_factor: int
    liquidation_threshold: int
    liquidation_incentive: int


@dataclass(frozen=True, slots=True)
class VenusPosition:
    vtoken: str
    vtoken_balance: int = 0
    borrow_principal: int = 0  # accountBorrows[a].principal
    interest_index: int = 0  # accountBorrows[a].interestIndex


@dataclass(frozen=True, slots=True)
class VenusAccount:
    assets_in: tuple[str, ...] = ()  # getAssetsIn order
    positions: tuple[VenusPosition, ...] = ()  # non-empty, by vToken


def reserve_key(protocol: str, market: str, asset: str) -> tuple[str, str, str, str]:
    return ("reserve", protocol, market.lower(), asset.lower())


def account_key(protocol: str, market: str, account: str) -> tuple[str, str, str, str]:
    return ("account", protocol, market.lower(), account.lower())


def emode_key(pool: str, category: int) -> tuple[str, str, str, int]:
    return ("emode", "aave_v3", pool.lower(), category)


# -- Aave ---------------------------------------------------------------------------------------
def aave_position(account: aave.UserAccount | None, asset: str) -> aave.UserReserve:
    for p in account.positions if account else ():
        if p.asset == asset:
            return p
    return aave.UserReserve(asset)


def with_aave_position(account: aave.UserAccount | None, pos: aave.UserReserve) -> aave.UserAccount:
    """The account with `pos` replacing its asset's position (empty positions dropped)."""
    others = [p for p in account.positions if p.asset != pos.asset] if account else []
    if pos != aave.UserReserve(pos.asset):
        others.append(pos)
    emode = account.emode_category if account else 0
    return aave.UserAccount(tuple(sorted(others, key=lambda p: p.asset)), emode)


class _AaveHandlers:
    """Every Aave event that moves a reserve's indexes or an account's balances and flags."""

    def __init__(self, ref: AaveMarketRef) -> None:
        self.pool = ref.pool.lower()
        self.tokens: dict[str, tuple[str, str]] = {}  # token -> (asset, "a" | "v" | "s")
        for r in ref.reserves:
            for token, kind in ((r.a_token, "a"), (r.variable_debt_token, "v")):
                self.tokens[token.lower()] = (r.asset.lower(), kind)
            self.tokens[r.stable_debt_token.lower()] = (r.asset.lower(), "s")

    def _account(self, view: StateView, user: str) -> tuple[Any, aave.UserAccount | None]:
        key = account_key("aave_v3", self.pool, user)
        return key, view.get(key)

    def _set(self, view: StateView, user: str, asset: str, **fields: Any) -> Changes:
        key, account = self._account(view, user)
        pos = replace(aave_position(account, asset), **fields)
        return [(key, with_aave_position(account, pos))]

    def reserve_data(self, log: Log, view: StateView) -> Changes:
        if log.address.lower() != self.pool:
            return []
        e = ev.decode_reserve_data_updated(log)
        key = reserve_key("aave_v3", self.pool, e.reserve)
        old = view.get(key)
        if old is None:
            raise StateInvariantError(f"ReserveDataUpdated for unknown reserve {e.reserve}")
        new = replace(
            old,
            liquidity_index=e.liquidity_index,
            current_liquidity_rate=e.liquidity_rate,
            variable_borrow_index=e.variable_borrow_index,
            current_variable_borrow_rate=e.variable_borrow_rate,
            last_update_timestamp=now(view, log),
        )
        return [(key, new)]

    def collateral(self, log: Log, view: StateView) -> Changes:
        if log.address.lower() != self.pool:
            return []
        e = ev.decode_collateral_set(log)
        return self._set(view, e.user, e.reserve, using_as_collateral=e.enabled)

    def emode(self, log: Log, view: StateView) -> Changes:
        if log.address.lower() != self.pool:
            return []
        e = ev.decode_user_emode_set(log)
        key, account = self._account(view, e.user)
        positions = account.positions if account else ()
        return [(key, aave.UserAccount(positions, e.category))]

    def scaled(self, log: Log, view: StateView) -> Changes:
        token = self.tokens.get(log.address.lower())
        if token is None or token[1] == "s":
            return []
        asset, kind = token
        e = ev.decode_scaled_change(log)
        _, account = self._account(view, e.user)
        pos = aave_position(account, asset)
        if kind == "a":
            return self._set(view, e.user, asset, scaled_a_token_balance=_add(
                pos.scaled_a_token_balance, e.scaled, log))  # fmt: skip
        borrowing = pos.borrowing
        if e.amount > 0:
            borrowing = True  # BorrowLogic: isFirstBorrowing sets the bit
        elif -e.amount == aave.ray_mul(pos.scaled_variable_debt, e.index):
            borrowing = pos.stable_debt_principal != 0  # whole debt repaid: the bit clears
        new = _add(pos.scaled_variable_debt, e.scaled, log)
        return self._set(view, e.user, asset, scaled_variable_debt=new, borrowing=borrowing)

    def transfer(self, log: Log, view: StateView) -> Changes:
        token = self.tokens.get(log.address.lower())
        if token is None or token[1] != "a":
            return []
        e = ev.decode_balance_transfer(log)
        out: Changes = []
        for user, delta in ((e.sender, -e.scaled), (e.recipient, e.scaled)):
            key, account = self._account(view, user)
            for k, v in out:  # the sender's entry may be the recipient's (self-transfer)
                if k == key:
                    account = v
            pos = aave_position(account, token[0])
            balance = _add(pos.scaled_a_token_balance, delta, log)
            out.append((key, with_aave_position(account, replace(
                pos, scaled_a_token_balance=balance))))  # fmt: skip
        return out

    def stable(self, log: Log, view: StateView) -> Changes:
        token = self.tokens.get(log.address.lower())
        if token is None or token[1] != "s":
            return []
        e = ev.decode_stable_change(log)
        pos = aave_position(self._account(view, e.user)[1], token[0])
        ts = now(view, log)
        if e.minted and not _burn_as_mint(e, pos):
            return self._set(view, e.user, token[0], stable_debt_principal=(
                e.current_balance + e.amount), stable_rate=e.new_rate, stable_last_updated=ts,
                borrowing=True)  # fmt: skip
        if e.minted:  # StableDebtToken.burn minting the interest above the repayment
            principal = pos.stable_debt_principal + e.amount
            return self._set(view, e.user, token[0], stable_debt_principal=principal,
                             stable_last_updated=ts)  # fmt: skip
        principal = pos.stable_debt_principal - e.amount
        if principal != e.current_balance - e.amount - e.balance_increase:
            raise StateInvariantError(f"stable burn {e} does not fit principal {pos}")
        if principal == 0:
            return self._set(
                view,
                e.user,
                token[0],
                stable_debt_principal=0,
                stable_rate=0,
                stable_last_updated=0,
                borrowing=pos.scaled_variable_debt != 0,
            )
        return self._set(view, e.user, token[0], stable_debt_principal=principal,
                         stable_last_updated=ts)  # fmt: skip

    def handlers(self) -> dict[str, Handler]:
        return {
            ev.RESERVE_DATA_UPDATED: self.reserve_data,
            ev.COLLATERAL_ENABLED: self.collateral,
            ev.COLLATERAL_DISABLED: self.collateral,
            ev.USER_EMODE_SET: self.emode,
            ev.SCALED_MINT: self.scaled,
            ev.SCALED_BURN: self.scaled,
            ev.BALANCE_TRANSFER: self.transfer,
            ev.STABLE_MINT: self.stable,
            ev.STABLE_BURN: self.stable,
        }


def _burn_as_mint(e: ev.StableChange, pos: aave.UserReserve) -> bool:
    """A StableDebtToken Mint from `burn` (interest above the repayment): the rate is unchanged
    and the amount is below the interest. A real mint's new rate is a fresh weighted average."""
    return e.new_rate == pos.stable_rate and e.amount < e.balance_increase


def _add(balance: int, delta: int, log: Log) -> int:
    out = balance + delta
    if out < 0:
        raise StateInvariantError(f"negative balance after {log.tx_hash}:{log.log_index}")
    return out


# -- Venus --------------------------------------------------------------------------------------
def venus_position(account: VenusAccount | None, vtoken: str) -> VenusPosition:
    for p in account.positions if account else ():
        if p.vtoken == vtoken:
            return p
    return VenusPosition(vtoken)


def with_venus_position(account: VenusAccount | None, pos: VenusPosition) -> VenusAccount:
    others = [p for p in account.positions if p.vtoken != pos.vtoken] if account else []
    if pos != VenusPosition(pos.vtoken):
        others.append(pos)
    assets_in = account.assets_in if account else ()
    return VenusAccount(assets_in, tuple(sorted(others, key=lambda p: p.vtoken)))


class _VenusHandlers:
    """vToken flows (cash, supply, borrows), vToken transfers, accrual and market membership."""

    def __init__(self, ref: VenusRef) -> None:
        self.comptroller = ref.comptroller.lower()
        self.vtokens = {m.vtoken.lower() for m in ref.markets}

    def _market(self, view: StateView, vtoken: str) -> tuple[Any, VenusMarket]:
        key = reserve_key("venus", self.comptroller, vtoken)
        market = view.get(key)
        if market is None:
            raise StateInvariantError(f"no Venus market {vtoken} in state")
        return key, market

    def _account(self, view: StateView, who: str) -> tuple[Any, VenusAccount | None]:
        key = account_key("venus", self.comptroller, who)
        return key, view.get(key)

    def accrue(self, log: Log, view: StateView) -> Changes:
        vt = log.address.lower()
        if vt not in self.vtokens:
            return []
        e = ev.decode_accrue_interest(log)
        key, market = self._market(view, vt)
        if e.cash_prior != market.state.cash:
            raise StateInvariantError(f"{vt} cash {market.state.cash} != cashPrior {e}")
        state = venus.accrue_interest(market.state, log.block_number)
        if (state.borrow_index, state.total_borrows) != (e.borrow_index, e.total_borrows):
            raise StateInvariantError(f"{vt} accrual {state} does not match {e}")
        return [(key, replace(market, state=state))]

    def flow(self, log: Log, view: StateView) -> Changes:
        vt = log.address.lower()
        if vt not in self.vtokens:
            return []
        e = ev.decode_vtoken_flow(log)
        key, market = self._market(view, vt)
        s = market.state
        s = replace(s, cash=s.cash + e.cash, total_supply=s.total_supply + e.supply)
        out: Changes = []
        if e.total_borrows is not None and e.account_borrows is not None:
            s = replace(s, total_borrows=e.total_borrows)
            akey, account = self._account(view, e.account)
            pos = replace(
                venus_position(account, vt),
                borrow_principal=e.account_borrows,
                interest_index=s.borrow_index,
            )
            out.append((akey, with_venus_position(account, pos)))
        return [(key, replace(market, state=s)), *out]

    def reserves(self, log: Log, view: StateView) -> Changes:
        vt = log.address.lower()
        if vt not in self.vtokens:
            return []
        key, market = self._market(view, vt)
        if market.state.accrual_block_number != log.block_number:
            return []  # the sweep inside accrueInterest: its AccrueInterest log follows
        cash, total = ev.decode_reserves_change(log)
        s = replace(market.state, cash=market.state.cash + cash, total_reserves=total)
        return [(key, replace(market, state=s))]

    def transfer(self, log: Log, view: StateView) -> Changes:
        vt = log.address.lower()
        if vt not in self.vtokens:
            return []
        e = ev.decode_transfer(log)
        out: Changes = []
        for who, delta in ((e.sender, -e.amount), (e.recipient, e.amount)):
            if who in (vt, ev.address_of(0)):
                continue  # mint / redeem: the vToken's side of the transfer
            key, account = self._account(view, who)
            for k, v in out:
                if k == key:
                    account = v
            pos = venus_position(account, vt)
            balance = _add(pos.vtoken_balance, delta, log)
            out.append((key, with_venus_position(account, replace(pos, vtoken_balance=balance))))
        return out

    def membership(self, log: Log, view: StateView) -> Changes:
        if log.address.lower() != self.comptroller:
            return []
        vt, who, entered = ev.decode_market_membership(log)
        key, account = self._account(view, who)
        account = account or VenusAccount()
        assets = list(account.assets_in)
        if entered:
            assets.append(vt)
        else:  # MarketFacet.exitMarket: the last entry moves into the exited slot
            i = assets.index(vt)
            assets[i] = assets[-1]
            assets.pop()
        return [(key, VenusAccount(tuple(assets), account.positions))]

    def handlers(self) -> dict[str, Handler]:
        out: dict[str, Handler] = {
            t: self.flow
            for t in (ev.V_MINT, ev.V_MINT_BEHALF, ev.V_REDEEM, ev.V_REDEEM_FEE, ev.V_BORROW)
        }
        out |= {ev.V_REPAY_BORROW: self.flow, ev.V_ACCRUE_INTEREST: self.accrue}
        out |= {ev.V_RESERVES_ADDED: self.reserves, ev.V_RESERVES_REDUCED: self.reserves}
        out |= {ev.TRANSFER: self.transfer}
        return out | {ev.MARKET_ENTERED: self.membership, ev.MARKET_EXITED: self.membership}


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
    maps: list[Mapping[str, Handler]] = [price_handlers(price_targets)]
    maps += [_AaveHandlers(r).handlers() for r in aave_refs]
    maps += [_VenusHandlers(r).handlers() for r in venus_refs]
    return merge_handlers(*maps)


# -- exact account views ------------------------------------------------------------------------
Get = Callable[[StateKey], Any]


def aave_inputs(
    get: Get, ref: AaveMarketRef
) -> tuple[dict[str, aave.ReserveData], dict[int, aave.EModeCategory]]:
    """The market's reserves (with oracle prices) and e-mode categories, from the state."""
    reserves = {}
    for r in ref.reserves:
        data = get(reserve_key("aave_v3", ref.pool, r.asset))
        price = get(price_key("aave_v3", ref.pool, r.asset))
        reserves[data.asset] = replace(data, price=price)
    emodes = {}
    for c in ref.emode_categories:
        cat = get(emode_key(ref.pool, c))
        if cat is not None and cat.price_source != aave.ZERO_ADDRESS:
            cat = replace(cat, price=get(price_key("aave_v3", ref.pool, cat.price_source)))
        if cat is not None:
            emodes[c] = cat
    return reserves, emodes


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
