"""Aave V3 lending state kept by events: the pool's and its tokens' logs -> account and reserve
entries (see positions.py for the keys)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tallyio.core.events import Log
from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import lending_events as ev
from tallyio.state.lending_keys import (
    AaveMarketRef,
    Changes,
    account_key,
    add_balance,
    reserve_key,
)
from tallyio.state.prices import now
from tallyio.state.store import Handler, StateInvariantError, StateView


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
            return self._set(view, e.user, asset, scaled_a_token_balance=add_balance(
                pos.scaled_a_token_balance, e.scaled, log))  # fmt: skip
        borrowing = pos.borrowing
        if e.amount > 0:
            borrowing = True  # BorrowLogic: isFirstBorrowing sets the bit
        elif -e.amount == aave.ray_mul(pos.scaled_variable_debt, e.index):
            borrowing = pos.stable_debt_principal != 0  # whole debt repaid: the bit clears
        new = add_balance(pos.scaled_variable_debt, e.scaled, log)
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
            balance = add_balance(pos.scaled_a_token_balance, delta, log)
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
