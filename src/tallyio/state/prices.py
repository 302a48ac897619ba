"""Oracle prices and the block clock as state entries, changed only by events.

A price entry is the lending market's own oracle answer for one asset, in that protocol's units
(Aave: base currency, 8 decimals on the devnet; Venus: 1e36 / 10**decimals per whole token).
Feeds announce new answers with AnswerUpdated; each feed maps to the markets it prices
(`PriceTarget`), and the handler rewrites all of them at once. Every feed's latest answer is kept
under `feed_key` too, so when AaveOracle re-points an asset at another feed (AssetSourceUpdated,
config_handlers.py) the state knows its price and records the switch under `source_key`; from
then on that asset follows the new feed, not the one its `PriceTarget` names.

Interest accrues by timestamp, so handlers need the block's time: `clock_log(block)` turns a
Block into a synthetic log the `CLOCK` handler stores under `CLOCK_KEY` - the block frame's undo
then rewinds it with everything else on a reorg.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from tallyio.core.events import Block, Log
from tallyio.protocols.lending_events import ANSWER_UPDATED, decode_answer_updated
from tallyio.protocols.venus import chainlink_underlying_price
from tallyio.state.store import Handler, StateInvariantError, StateKey, StateView

CLOCK: Final = "0x" + "c1" * 32  # topic0 of the synthetic clock log (not a real event)
CLOCK_KEY: Final = ("clock",)

PriceKind = Literal["aave_v3", "venus"]


@dataclass(frozen=True, slots=True)
class PriceTarget:
    """One market price one feed sets: `protocol`'s oracle price of `asset` in `market`."""

    feed: str
    protocol: PriceKind
    market: str
    asset: str
    feed_decimals: int = 8
    token_decimals: int = 18

    def price(self, answer: int) -> int:
        """The oracle's answer for this feed answer (AaveOracle passes it through)."""
        if answer <= 0:
            raise StateInvariantError(f"feed {self.feed} answered {answer}")
        if self.protocol == "venus":
            return chainlink_underlying_price(answer, self.feed_decimals, self.token_decimals)
        return answer


def price_key(protocol: str, market: str, asset: str) -> tuple[str, str, str, str]:
    return ("price", protocol, market.lower(), asset.lower())


def feed_key(feed: str) -> tuple[str, str]:
    """A feed's latest AnswerUpdated answer (raw, in the feed's decimals)."""
    return ("feed", feed.lower())


def source_key(protocol: str, market: str, asset: str) -> tuple[str, str, str, str]:
    """The feed an oracle re-pointed `asset` at since the snapshot (absent: the target's feed)."""
    return ("source", protocol, market.lower(), asset.lower())


def clock_log(block: Block) -> Log:
    """The Block as a log the CLOCK handler records; apply it right after the Block."""
    data = f"0x{block.number:064x}{block.timestamp:064x}"
    return Log(block.chain_id, block.number, block.hash, "", -1, "", (CLOCK,), data)


def handle_clock(log: Log, view: StateView) -> list[tuple[StateKey, Any]]:
    return [(CLOCK_KEY, (int(log.data[2:66], 16), int(log.data[66:130], 16)))]


def now(view: StateView, log: Log) -> int:
    """The timestamp of `log`'s block; the block's clock log must have been applied first."""
    clock = view.get(CLOCK_KEY)
    if clock is None or clock[0] != log.block_number:
        raise StateInvariantError(
            f"no clock for block {log.block_number} (have {clock}): apply clock_log(block) first"
        )
    return int(clock[1])


def price_handlers(targets: Iterable[PriceTarget]) -> dict[str, Handler]:
    """The AnswerUpdated handler over every feed in `targets`, and the clock's handler.

    A Venus target follows its feed; an Aave target follows the feed its oracle sources the
    asset from: the target's, unless a `source_key` entry says the oracle moved it (a handful
    of reserves per market, so all Aave targets are checked on each answer)."""
    by_feed: dict[str, list[tuple[StateKey, PriceTarget]]] = {}
    aave: list[tuple[StateKey, str, StateKey, PriceTarget]] = []  # keys made once, not per log
    for t in targets:
        key = price_key(t.protocol, t.market, t.asset)
        if t.protocol == "aave_v3":
            aave.append((source_key(t.protocol, t.market, t.asset), t.feed.lower(), key, t))
        else:
            by_feed.setdefault(t.feed.lower(), []).append((key, t))

    def handle_answer(log: Log, view: StateView) -> list[tuple[StateKey, Any]]:
        answer, feed = decode_answer_updated(log), log.address.lower()
        out: list[tuple[StateKey, Any]] = [(feed_key(feed), answer)]
        out += [(key, t.price(answer)) for key, t in by_feed.get(feed, ())]
        for source, static, key, t in aave:
            if view.get(source, static) == feed:
                out.append((key, t.price(answer)))
        return out

    return {ANSWER_UPDATED: handle_answer, CLOCK: handle_clock}
