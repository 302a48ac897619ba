"""What a run shows: a live line per event worth seeing, and a summary per strategy.

`LiveReport` is an engine listener: it counts what happened (blocks, opportunities, trades,
profit per strategy) and, unless quiet, prints a readable line for each step to `out`.
Profit is realised on chain (the executor contract's balance change) and shown in US dollars at
the oracle price for reading only; the exact integers are in `as_dict()` and the journal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

USD = Callable[[str, int], float]  # (token, base units) -> dollars, display only


@dataclass(slots=True)
class StrategyTally:
    found: int = 0
    sent: int = 0
    landed: int = 0
    failed: int = 0
    rejected: int = 0
    profit: dict[str, int] = field(default_factory=dict)  # token -> realised base units
    profit_usd: float = 0.0


class LiveReport:
    def __init__(
        self, usd: USD | None = None, *, out: TextIO | None = None, quiet: bool = False
    ) -> None:
        self.usd: USD = usd or (lambda token, amount: 0.0)  # the session binds the oracle's
        self.out, self.quiet = out or sys.stdout, quiet
        self.tally: dict[str, StrategyTally] = {}
        self.blocks = 0
        self.head = 0
        self.at_risk: dict[str, int] = {}
        self.trades: list[dict[str, Any]] = []

    def _say(self, line: str) -> None:
        if not self.quiet:
            print(line, file=self.out, flush=True)

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "block":
            self.blocks += 1
            self.head = int(data["number"])
            return
        name = str(data.get("strategy", "?"))
        t = self.tally.setdefault(name, StrategyTally())
        if kind == "opportunity":
            t.found += 1
            usd = self.usd(str(data["token"]), int(data["expected_profit"]))
            self._say(f"  block {data['block']:>5}  {name:<22} found  "
                      f"{_who(data)}  expected ${usd:,.2f}")  # fmt: skip
        elif kind == "decision" and not data.get("approved", True):
            t.rejected += 1
            self._say(f"  block {data['block']:>5}  {name:<22} skip   {data.get('reason')}")
        elif kind == "trade":
            self._trade(name, t, data)

    def _trade(self, name: str, t: StrategyTally, data: dict[str, Any]) -> None:
        result = data["result"]
        status = result.get("status")
        t.sent += status not in ("rejected", "simulated", "error")
        realised = result.get("realised_profit")
        if status == "included" and realised is not None:
            t.landed += 1
            token, amount = str(data["token"]), int(realised)
            t.profit[token] = t.profit.get(token, 0) + amount
            usd = self.usd(token, amount)
            t.profit_usd += usd
            self._say(f"  block {result.get('block'):>5}  {name:<22} LANDED {_who(data)}  "
                      f"profit ${usd:,.2f}  tx {str(result.get('tx_hash'))[:12]}…")  # fmt: skip
        elif status == "simulated":
            self._say(f"  block {data['block']:>5}  {name:<22} paper  simulated, not sent")
        else:
            t.failed += status != "simulated"
            reason = str(result.get("reason"))  # a revert's hex arguments say little here
            self._say(f"  block {data['block']:>5}  {name:<22} {status}: {reason[:60]}")
        self.trades.append({"strategy": name, **data})

    def summary_table(self) -> str:
        head = f"  {'strategy':<22} {'found':>6} {'sent':>5} {'landed':>7} {'profit $':>12}"
        lines = [head, "  " + "-" * (len(head) - 2)]
        for name, t in sorted(self.tally.items()):
            lines.append(f"  {name:<22} {t.found:>6} {t.sent:>5} {t.landed:>7} "
                         f"{t.profit_usd:>12,.2f}")  # fmt: skip
        total = sum(t.profit_usd for t in self.tally.values())
        lines.append(f"  {'total':<22} {'':>6} {'':>5} {'':>7} {total:>12,.2f}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "blocks": self.blocks,
            "head": self.head,
            "strategies": {
                name: {
                    "found": t.found,
                    "sent": t.sent,
                    "landed": t.landed,
                    "failed": t.failed,
                    "rejected": t.rejected,
                    "profit": {k: str(v) for k, v in t.profit.items()},
                    "profit_usd": round(t.profit_usd, 2),
                }
                for name, t in sorted(self.tally.items())
            },
            "trades": self.trades,
        }


def _who(data: dict[str, Any]) -> str:
    account = data.get("account") or data.get("borrower")
    if account:
        return f"{str(account)[:10]}…"
    return str(data.get("route") or "")  # an arbitrage cycle: WETH>USDC>WETH
