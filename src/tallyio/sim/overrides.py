"""A price feed answering a fixed price, for one simulation: what pre-simulating a liquidation
at its trigger price needs (the plan is ready, signed, when the real price comes).

`FeedOverride` puts FixedFeed's runtime code (contracts/src/FixedFeed.sol) in place of a
Chainlink-style feed's, with slot 0 = the answer and slot 1 = the decimals; the feed then answers
latestAnswer, latestRoundData (updated this block, round id 2**64 - 1), decimals, latestTimestamp,
latestRound and version. Both simulators take a sequence of them: the fork lays them into its
cache for one run and puts the real feed back, the node sends them as eth_simulateV1
`stateOverrides`. Only the feed changes: anything that cached a price elsewhere keeps it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# FixedFeed's deployedBytecode, built without a metadata hash (contracts/foundry.toml), so it
# changes only with the source's meaning; a unit test holds it equal to the forge artifact.
FIXED_FEED_CODE = bytes.fromhex(
    "6080604052348015600e575f5ffd5b50600436106066575f3560e01c8063668a0f02116047578063668a0f02"
    "14609a5780638205bf6a1460a7578063feaf968c1460ac575f5ffd5b8063313ce56714606a57806350d25bcd"
    "14608457806354fd4d50146094575b5f5ffd5b60015460405160ff90911681526020015b6040518091039"
    "0f35b5f545b604051908152602001607b565b60046087565b67ffffffffffffffff6087565b426087565b5f"
    "546040805167ffffffffffffffff808252602082019390935242918101829052606081019190915260808101"
    "9190915260a001607b56fea164736f6c634300081e000a"
)
ANSWER_SLOT = 0
DECIMALS_SLOT = 1
_INT256 = 1 << 255


@dataclass(frozen=True, slots=True)
class FeedOverride:
    """`feed` answers `answer` (in the feed's units) with `decimals` decimals for one run."""

    feed: str
    answer: int
    decimals: int

    def __post_init__(self) -> None:
        if not -_INT256 <= self.answer < _INT256:
            raise ValueError(f"answer {self.answer} does not fit an int256")
        if not 0 <= self.decimals < 256:
            raise ValueError(f"decimals {self.decimals} does not fit a uint8")

    def code(self) -> bytes:
        return FIXED_FEED_CODE

    def storage(self) -> dict[int, int]:
        """Slot -> word; the answer as its two's complement uint256, as the EVM holds it."""
        return {ANSWER_SLOT: self.answer % (1 << 256), DECIMALS_SLOT: self.decimals}


def state_overrides(overrides: Sequence[FeedOverride]) -> dict[str, Any]:
    """eth_simulateV1's (and eth_call's) `stateOverrides` for the feeds: the code and a
    `stateDiff` (only the two slots; the feed's other storage stays)."""
    out: dict[str, Any] = {}
    for o in overrides:
        diff = {_word(slot): _word(value) for slot, value in o.storage().items()}
        out[o.feed.lower()] = {"code": "0x" + o.code().hex(), "stateDiff": diff}
    return out


def _word(n: int) -> str:
    return "0x" + n.to_bytes(32, "big").hex()
