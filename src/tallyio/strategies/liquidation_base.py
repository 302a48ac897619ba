"""What the Aave V3 and Venus liquidation strategies share: the Strategy shape (accounts known
from the deltas, the idle step's sale paths, evaluate -> the best liquidation per account as an
Opportunity with its Plan). The protocols' own sizing is in liquidation.py (Aave) and
liquidation_venus.py (Venus).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from tallyio.core.opportunity import BlockContext, Kind, Opportunity
from tallyio.core.plan import Action, Plan
from tallyio.state.store import Delta, StateView
from tallyio.strategies.liquidation_pair import Model, pair_nets, reprice_pair, size_pair
from tallyio.strategies.liquidation_sizing import BPS, Candidate, LiquidationConfig

HF_ONE: Final = 10**18


# -- the shared Strategy shape ------------------------------------------------------------------
class LendingLiquidation:
    name: str
    protocol: str
    market: str

    def __init__(self, config: LiquidationConfig, accounts: Iterable[str] = ()) -> None:
        self.config = config
        self.known: set[str] = {a.lower() for a in accounts}
        self._armed: Candidate | None = None  # while `reprice` runs: the one pair and amount
        self._rivals: list[int] = []  # ... and the other pairs' nets it tried

    def sync(self, view: StateView) -> None:
        """Nothing to rebuild: every answer is read from `view` when asked; sales prepared on
        the state before it (prepared_route.py) are dropped."""
        clear = getattr(self.config.router, "clear", None)
        if clear is not None:
            clear()

    def prepare_sales(self, accounts: Iterable[str], view: StateView, block: BlockContext) -> None:
        """Idle time: have the router find the paths these accounts' collateral would be sold
        along (up to all of it, 1% room for interest), before any of them goes under."""
        for _ in self.sale_steps(accounts, view, block):
            pass

    def sale_steps(
        self, accounts: Iterable[str], view: StateView, block: BlockContext
    ) -> Iterator[None]:
        """`prepare_sales` one sale path search at a time (the engine yields between them)."""
        prepare = getattr(self.config.router, "prepare", None)
        if prepare is None:
            return
        most: dict[tuple[str, str], int] = {}
        for user in dict.fromkeys(a.lower() for a in accounts):
            for pair, held in self._sales(view, user, block):
                most[pair] = max(most.get(pair, 0), held + held // 100)
        yield
        vault = self.config.balancer_vault.lower()
        excludes = [frozenset(), *([frozenset({vault})] if vault else [])]
        for (coll, debt), held in most.items():
            for exclude in excludes:
                prepare(view, coll, debt, held, exclude)
                yield

    def forget(self, deltas: Sequence[Delta]) -> None:
        """A block's deltas: prepared sales go stale when a pool moves."""
        forget = getattr(self.config.router, "forget", None)
        if forget is not None:
            forget(deltas)

    def process(
        self, deltas: Sequence[Delta], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        return self.evaluate(self._touched(deltas, view), view, block)

    def evaluate(
        self, accounts: Iterable[str], view: StateView, block: BlockContext
    ) -> list[Opportunity]:
        """The best liquidation of each liquidatable account in `accounts`, most net first."""
        out = []
        for user in dict.fromkeys(a.lower() for a in accounts):
            best = self.best(user, view, block)
            if best is not None and best.net > 0:
                out.append(self.opportunity(user, best, block))
        # net in wei, so accounts owing different tokens compare
        return sorted(out, key=lambda o: -o.net_profit(block.gas_price) * 10**18 // o.eth_price)

    def _touched(self, deltas: Sequence[Delta], view: StateView) -> list[str]:
        users: list[str] = []
        assets: set[str] = set()
        categories: set[int] = set()
        for d in deltas:
            key = d.key
            if not (isinstance(key, tuple) and len(key) == 4 and key[1:3] == (
                    self.protocol, self.market)):  # fmt: skip
                continue
            if key[0] == "account":
                self.known.add(key[3])
                users.append(key[3])
            elif key[0] in ("price", "reserve"):
                assets.add(key[3])
            elif key[0] == "emode":  # a category's thresholds or price source changed
                categories.add(key[3])
        if assets or categories:
            held = self._holds
            users += [u for u in sorted(self.known)
                      if held(view, u, assets) or self._in_emode(view, u, categories)]  # fmt: skip
        return users

    def _in_emode(self, view: StateView, user: str, categories: set[int]) -> bool:
        """Is `user` in one of these e-mode categories (markets without e-mode: never)?"""
        return False

    def opportunity(
        self, user: str, c: Candidate, block: BlockContext, armed: Any = None
    ) -> Opportunity:
        """`c` as an Opportunity; `armed` (armed.py's Armed): the plan it was pre-simulated as,
        its minProfit re-priced, carrying that outcome."""
        cfg, eth_price = self.config, block.eth_price(c.debt_asset)
        assert eth_price is not None  # a candidate exists only where gas could be priced
        cost = c.profit - c.net
        floor = min(max(cost, c.profit * cfg.min_profit_bps // BPS), c.profit)
        if armed is None:
            sale = c.sale.actions if c.sale is not None else ()
            plan = Plan((self._action(user, c), *sale), c.debt_asset, floor, c.flash.loan)
        else:  # the same actions and loan (re-priced on them), so a copy but for minProfit
            plan = armed.contingent.opportunity.plan.with_min_profit(floor)
        touches = {self.market, user, c.flash.loan.lender, *(c.sale.touches if c.sale else ())}
        return Opportunity(
            strategy=self.name,
            kind=Kind.LIQUIDATION,
            chain_id=block.chain_id,
            block=block.block,
            plan=plan,
            expected_profit=c.profit,
            gas_estimate=c.gas,
            eth_price=eth_price,
            touches=frozenset(touches),
            notional_usd=self._usd(c.debt_asset, c.repaid, block),
            flash_loan_usd=self._usd(c.debt_asset, c.amount, block),
            detail={
                "market": self.market, "borrower": user, "debt_asset": c.debt_asset,
                "collateral_asset": c.collateral_asset, "amount": c.amount, "repaid": c.repaid,
                "seized": c.seized, "sale_out": c.sale.amount_out if c.sale else c.seized,
                "flash_fee": c.flash.fee, "net_profit": c.net, "lender": c.flash.loan.lender,
                "flash_source": int(c.flash.loan.source),
                **({} if armed is None else {
                    "armed_answer": armed.contingent.answer,
                    "armed_block": armed.contingent.opportunity.block,
                    "armed_profit": armed.outcome.profit}),
            },
            presimulated=None if armed is None else armed.outcome,
        )  # fmt: skip

    def reprice(
        self, user: str, armed: Candidate, view: StateView, block: BlockContext
    ) -> Candidate | None:
        """`armed` (sized on another state: its pair, repayment, sale and loan) priced on
        `view`, if the account is liquidatable there and it is still its pair's best
        (liquidation_pair.reprice_pair) and no other pair nets more at the repayments
        `pair_nets` tries (its whole close, half of it); None otherwise."""
        self._armed, self._rivals = armed, []
        try:
            found = self.best(user, view, block)
        finally:
            self._armed = None
        if found is None or any(net > found.net for net in self._rivals):
            return None
        return found

    def _size(
        self, view: StateView, block: BlockContext, pair: tuple[str, str], hi: int,
        model: Model, liquidation_gas: int,
    ) -> Candidate | None:  # fmt: skip
        """The pair's best repayment in [1, hi] (or, in `reprice`, the armed one's price)."""
        armed = self._armed
        if armed is None:
            return size_pair(self.config, view, block, pair, hi, model, liquidation_gas)
        if pair != (armed.debt_asset, armed.collateral_asset):
            self._rivals += pair_nets(self.config, view, block, pair, hi, model, liquidation_gas)
            return None
        return reprice_pair(self.config, view, block, pair, hi, model, liquidation_gas, armed)

    # Per protocol:
    def best(self, user: str, view: StateView, block: BlockContext) -> Candidate | None:
        raise NotImplementedError

    def _sales(
        self, view: StateView, user: str, block: BlockContext
    ) -> list[tuple[tuple[str, str], int]]:
        """((collateral, debt asset), collateral held) for each sale a liquidation may need."""
        raise NotImplementedError

    def _holds(self, view: StateView, user: str, assets: set[str]) -> bool:
        raise NotImplementedError

    def _action(self, user: str, c: Candidate) -> Action:
        raise NotImplementedError

    def _usd(self, token: str, amount: int, block: BlockContext) -> int:
        raise NotImplementedError
