"""Armed liquidations: sized and simulated ahead, at a price just past an account's trigger.

Idle time (`Arming.contingencies`): for the accounts nearest liquidation on the watch list, the
feed behind the asset whose move liquidates each soonest is given an answer just past that
move; the strategy sizes the liquidation on the state after that answer (an overlay over the
store, made by the same price handlers the store runs). The engine simulates each such plan
with the feed's code overridden to give that answer (sim/overrides.py) and hands the outcome
back (`arm`); a plan that succeeded with a profit is armed.

When the feed's real answer arrives (`fire`, the engine's early pass) and the account is
liquidatable, the armed plan is priced on the real state (`reprice`): the same repayment, sale
path and loan, so the same calldata but for minProfit, priced by the exact models, and acted
on at once with its pre-simulated outcome, if it is still its pair's best there and nothing
else it depends on moved in the block: the account, its market's reserves and other prices,
the sale's pools, the lender. Anything that does not hold goes the usual way (size, simulate).
An armed plan goes stale, and is dropped, when any of those moves in a block without firing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from tallyio.core.events import Log
from tallyio.core.opportunity import BlockContext, Contingent, Opportunity
from tallyio.protocols.lending_events import ANSWER_UPDATED
from tallyio.state.monitor import Watch
from tallyio.state.prices import PriceTarget, feed_key, price_handlers, source_key
from tallyio.state.store import Delta, StateKey, StateView, overlay
from tallyio.strategies.liquidation_sizing import Candidate

MAX_ARMED: Final = 8  # accounts armed at once (each costs a sizing and a simulation, idle)
PAST: Final = 10  # bps past the trigger the armed answer sits (the float trigger's margin)
TRIES: Final = 3  # answers tried, each PAST further, before an account is left unarmed
BPS: Final = 10_000


class Repricer(Protocol):
    protocol: str
    market: str

    def best(self, user: str, view: StateView, block: BlockContext) -> Candidate | None: ...

    def reprice(
        self, user: str, armed: Candidate, view: StateView, block: BlockContext
    ) -> Candidate | None: ...

    def opportunity(
        self, user: str, c: Candidate, block: BlockContext, armed: Any = None
    ) -> Opportunity: ...


@dataclass(frozen=True, slots=True)
class Armed:
    account: str
    candidate: Candidate
    contingent: Contingent
    outcome: Any  # the simulator's Outcome of the contingent's plan
    moves: frozenset[StateKey]  # the entries the armed answer set: the ones allowed to move


def answer_log(feed: str, answer: int, block: BlockContext) -> Log:
    """A feed's AnswerUpdated as the store's price handlers read it (not a chain log)."""
    current = f"0x{answer % 2**256:064x}"
    round_id, updated_at = f"0x{0:064x}", f"0x{block.timestamp:064x}"
    return Log(block.chain_id, block.block, "", "", -1, feed, (ANSWER_UPDATED, current, round_id),
               updated_at)  # fmt: skip


class Arming:
    """The armed plans of one liquidation strategy (see the module's docstring)."""

    def __init__(self, strategy: Repricer, targets: Iterable[PriceTarget]) -> None:
        self.strategy = strategy
        mine = [t for t in targets if (t.protocol, t.market.lower()) == (
            strategy.protocol, strategy.market)]  # fmt: skip
        self.targets = {t.asset.lower(): t for t in mine}
        self.handlers = {k.lower(): h for k, h in price_handlers(targets).items()}
        self.armed: dict[str, Armed] = {}
        self._sized: dict[str, tuple[Candidate, frozenset[StateKey]]] = {}
        self._seen: int | None = None  # the last block whose deltas `fire` checked

    def clear(self) -> None:
        self.armed.clear()
        self._sized.clear()

    # -- idle time ------------------------------------------------------------------------------
    def contingencies(
        self, watched: Sequence[Watch], view: StateView, block: BlockContext
    ) -> Iterator[Contingent]:
        """Plans for the nearest watched accounts not armed yet, each sized at its feed's answer
        just past the account's trigger (a Contingent the engine simulates), one at a time."""
        made = 0
        for w in watched:
            if len(self.armed) + made >= MAX_ARMED:
                return
            if w.account in self.armed:
                continue
            found = self._contingent(w, view, block)
            if found is not None:
                made += 1
                yield found

    def _contingent(self, w: Watch, view: StateView, block: BlockContext) -> Contingent | None:
        target = self.targets.get(w.asset.lower())
        if target is None:
            return None
        feed = str(view.get(source_key(target.protocol, target.market, target.asset),
                            target.feed.lower()))  # fmt: skip
        now = view.get(feed_key(feed))
        if not isinstance(now, int) or now <= 0:
            return None
        side = -1 if w.price_move < 0 else 1
        trigger = now * (1.0 + w.price_move)
        for k in range(1, TRIES + 1):
            answer = int(trigger * (1 + side * k * PAST / BPS))
            if answer <= 0:
                return None
            deltas, after = overlay(view, [answer_log(feed, answer, block)], self.handlers)
            c = self.strategy.best(w.account, after, block)
            if c is not None and c.net > 0:
                opp = self.strategy.opportunity(w.account, c, block)
                self._sized[w.account] = (c, frozenset(d.key for d in deltas))
                return Contingent(opp, feed, answer, target.feed_decimals)
        return None

    def arm(self, contingent: Contingent, outcome: Any) -> bool:
        """The engine's simulation of `contingent`: armed if it succeeded with a profit."""
        user = str(contingent.opportunity.detail.get("borrower", ""))
        sized = self._sized.pop(user, None)
        if sized is None or not getattr(outcome, "success", False) or outcome.profit <= 0:
            return False
        self.armed[user] = Armed(user, sized[0], contingent, outcome, sized[1])
        return True

    # -- the event ------------------------------------------------------------------------------
    def fire(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        """Armed plans the block's feed answers made good, priced on `view`, each carrying its
        pre-simulated outcome; armed plans something else moved under are dropped, and all of
        them after a block whose deltas were not shown here (the strategy was off)."""
        seen, self._seen = self._seen, block.block
        if seen is not None and block.block > seen + 1:
            self.armed.clear()
        if not self.armed:
            return []
        keys = {d.key for d in deltas}
        out = []
        for user, armed in list(self.armed.items()):
            if self._disturbed(armed, keys):
                del self.armed[user]
                continue
            if not armed.moves & keys:
                continue  # its feed did not answer in this block
            opp = self._priced(armed, view, block)
            if opp is not None:
                del self.armed[user]  # acted on once
                out.append(opp)
        return out

    def _priced(self, armed: Armed, view: StateView, block: BlockContext) -> Opportunity | None:
        c = self.strategy.reprice(armed.account, armed.candidate, view, block)
        if c is None:
            return None
        if (c.amount, c.flash.loan, c.sale.actions if c.sale else ()) != (
                armed.candidate.amount, armed.candidate.flash.loan,
                armed.candidate.sale.actions if armed.candidate.sale else ()):  # fmt: skip
            return None  # not what was simulated (cannot happen: reprice keeps all three)
        return self.strategy.opportunity(armed.account, c, block, armed)

    def _disturbed(self, armed: Armed, keys: Iterable[StateKey]) -> bool:
        """Did anything the armed plan depends on, other than its feed's answer, move?"""
        market = (self.strategy.protocol, self.strategy.market)
        touches = armed.contingent.opportunity.touches
        for key in keys:
            if not isinstance(key, tuple) or key in armed.moves:
                continue
            if len(key) >= 3 and key[1:3] == market:
                return True  # the account, a reserve, another price, the market's settings
            if len(key) == 2 and key[0] in ("pool", "v3_gross", "balancer_vault") and (
                    key[1] in touches):  # fmt: skip
                return True
        return False
