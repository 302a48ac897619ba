"""Venus (Compound v2 family) lending state kept by events: vToken and comptroller logs ->
account and market entries (see positions.py for the keys)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tallyio.core.events import Log
from tallyio.protocols import lending_events as ev
from tallyio.protocols import venus
from tallyio.state.lending_keys import (
    Changes,
    VenusAccount,
    VenusMarket,
    VenusPosition,
    VenusRef,
    account_key,
    add_balance,
    reserve_key,
)
from tallyio.state.store import Handler, StateInvariantError, StateView


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
            balance = add_balance(pos.vtoken_balance, delta, log)
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
