"""Exposure: how much of the executor's own tokens in-flight trades have committed, per chain.

A plan without a flash loan (FlashSource.NONE) spends the executor's inventory: its first
action's input token and amount. Before such a trade goes, `reserve` commits that amount; the
trade then either `release`s it (not sent, dropped, reverted: nothing left the contract) or
`settle`s it (landed: the inventory changes by what came back minus what went out). A
reservation that would pass the token's limit, or the inventory known to be there, is refused.
A token with no configured limit cannot fund a trade at all: unknown exposure is no exposure.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from tallyio.core.plan import ALL_BALANCE, FlashSource, Plan
from tallyio.risk.config import ExposureLimit

Key = tuple[int, str]  # (chain id, lowercase token)


class ExposureError(ValueError):
    """A reservation would pass a limit; the message says which and by how much."""


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int
    chain_id: int
    token: str  # lowercase
    amount: int  # base units committed


def inventory_spend(plan: Plan) -> tuple[str, int] | None:
    """(token, amount) a plan spends from the executor's own balance; None when it borrows.
    An amount of ALL_BALANCE (0) means the whole balance."""
    if plan.loan.source is not FlashSource.NONE:
        return None
    _, _, token_in, amount_in, _ = plan.actions[0].raw()
    return token_in.lower(), amount_in


class Exposure:
    """In-flight commitments and known inventory per (chain, token); one consumer at a time."""

    def __init__(self, limits: Iterable[ExposureLimit] = ()) -> None:
        self._limits: dict[Key, int] = {(x.chain_id, x.token.lower()): x.max_amount for x in limits}
        self._in_flight: dict[Key, int] = {}
        self._inventory: dict[Key, int] = {}
        self._open: dict[int, Reservation] = {}
        self._ids = itertools.count(1)

    def limit(self, chain_id: int, token: str) -> int | None:
        return self._limits.get((chain_id, token.lower()))

    def in_flight(self, chain_id: int, token: str) -> int:
        return self._in_flight.get((chain_id, token.lower()), 0)

    def inventory(self, chain_id: int, token: str) -> int | None:
        """What the executor holds, if a balance read told us (`set_inventory`)."""
        return self._inventory.get((chain_id, token.lower()))

    def set_inventory(self, chain_id: int, token: str, amount: int) -> None:
        if amount < 0:
            raise ValueError(f"inventory cannot be negative: {amount}")
        self._inventory[chain_id, token.lower()] = amount

    def refusal(self, chain_id: int, token: str, amount: int) -> str:
        """Why reserving `amount` would be refused ("" when it would not)."""
        key = (chain_id, token.lower())
        limit = self._limits.get(key)
        if limit is None:
            return f"no exposure limit for {token} on chain {chain_id}"
        held = self._inventory.get(key)
        if amount == ALL_BALANCE:
            if held is None:
                return f"plan spends the whole {token} balance, which is not known"
            amount = held - self._in_flight.get(key, 0)
        committed = self._in_flight.get(key, 0) + amount
        if committed > limit:
            return (
                f"{token} on chain {chain_id}: {committed} in flight would pass the limit {limit}"
            )
        if held is not None and committed > held:
            return f"{token} on chain {chain_id}: {committed} in flight, only {held} held"
        return ""

    def reserve(self, chain_id: int, token: str, amount: int) -> Reservation:
        """Commit `amount` (ALL_BALANCE: what is held and not committed); raises ExposureError."""
        reason = self.refusal(chain_id, token, amount)
        if reason:
            raise ExposureError(reason)
        key = (chain_id, token.lower())
        if amount == ALL_BALANCE:
            amount = self._inventory[key] - self._in_flight.get(key, 0)
        self._in_flight[key] = self._in_flight.get(key, 0) + amount
        reservation = Reservation(next(self._ids), chain_id, key[1], amount)
        self._open[reservation.id] = reservation
        return reservation

    def release(self, reservation: Reservation) -> None:
        """The trade did not spend anything (not sent, dropped or reverted)."""
        self._close(reservation)

    def settle(self, reservation: Reservation, returned: int) -> None:
        """The trade landed: `returned` base units of the token came back for `amount` spent."""
        self._close(reservation)
        key = (reservation.chain_id, reservation.token)
        if key in self._inventory:
            self._inventory[key] = max(0, self._inventory[key] + returned - reservation.amount)

    def _close(self, reservation: Reservation) -> None:
        if self._open.pop(reservation.id, None) is None:
            raise ValueError(f"reservation {reservation.id} is not open")
        key = (reservation.chain_id, reservation.token)
        self._in_flight[key] -= reservation.amount
