"""FeedOverride: FixedFeed's code as the module holds it is the compiled contract's, and the
slots and eth_simulateV1 overrides it gives."""

from __future__ import annotations

import json

import pytest

from tallyio.devnet.context import forge_build
from tallyio.paths import contracts_dir
from tallyio.sim.overrides import FIXED_FEED_CODE, FeedOverride, state_overrides

FEED = "0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9"


def test_the_code_constant_is_the_forge_artifact() -> None:
    forge_build()  # a no-op when nothing changed
    artifact = contracts_dir() / "out/FixedFeed.sol/FixedFeed.json"
    deployed = json.loads(artifact.read_text())["deployedBytecode"]["object"]
    # Built without a metadata hash (foundry.toml): the tail is only the solc version.
    assert deployed.endswith("a164736f6c634300081e000a")
    assert bytes.fromhex(deployed.removeprefix("0x")) == FIXED_FEED_CODE, (
        "contracts/src/FixedFeed.sol changed: copy its deployedBytecode into sim/overrides.py"
    )


def test_storage_is_answer_then_decimals_two_s_complement() -> None:
    assert FeedOverride(FEED, 1_900 * 10**8, 8).storage() == {0: 1_900 * 10**8, 1: 8}
    assert FeedOverride(FEED, -1, 18).storage() == {0: 2**256 - 1, 1: 18}
    assert FeedOverride(FEED, -(2**255), 0).storage()[0] == 2**255
    assert FeedOverride(FEED, 5, 8).code() == FIXED_FEED_CODE


@pytest.mark.parametrize(
    ("answer", "decimals"), [(2**255, 8), (-(2**255) - 1, 8), (1, -1), (1, 256)]
)
def test_values_a_feed_cannot_hold_are_refused(answer: int, decimals: int) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        FeedOverride(FEED, answer, decimals)


def test_state_overrides_set_code_and_only_the_two_slots() -> None:
    got = state_overrides([FeedOverride(FEED, -2, 8)])
    assert got == {
        FEED.lower(): {
            "code": "0x" + FIXED_FEED_CODE.hex(),
            "stateDiff": {
                "0x" + "00" * 32: "0x" + "ff" * 31 + "fe",
                "0x" + "00" * 31 + "01": "0x" + "00" * 31 + "08",
            },
        }
    }
    assert state_overrides([]) == {}
