// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {FixedFeed} from "../src/FixedFeed.sol";

/// The cheatcodes this test needs (test/utils/Vm.sol lists the executor tests').
interface StorageVm {
    function store(address target, bytes32 slot, bytes32 value) external;
    function etch(address target, bytes calldata code) external;
    function warp(uint256 timestamp) external;
}

/// Stands for a real feed whose code gets swapped: other code, its own values in slots 0 and 1.
/// (Not SettableFeed itself: importing it here would build it a second time, without the hash.)
contract OtherFeed {
    string public description = "ETH / USD";
    int256 public latestAnswer = 2_000e8;
}

contract FixedFeedTest {
    StorageVm internal constant VM = StorageVm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint256 internal constant ROUND = type(uint64).max;

    function _set(address feed, int256 answer, uint8 decimals_) internal {
        VM.store(feed, bytes32(uint256(0)), bytes32(uint256(answer)));
        VM.store(feed, bytes32(uint256(1)), bytes32(uint256(decimals_)));
    }

    function _check(FixedFeed feed, int256 answer, uint8 decimals_) internal view {
        require(feed.latestAnswer() == answer, "latestAnswer");
        require(feed.decimals() == decimals_, "decimals");
        (uint80 round, int256 got, uint256 started, uint256 updated, uint80 answered) = feed.latestRoundData();
        require(got == answer, "latestRoundData answer");
        require(round == ROUND && answered == ROUND, "round ids");
        require(started == block.timestamp && updated == block.timestamp, "timestamps");
        require(feed.latestTimestamp() == block.timestamp, "latestTimestamp");
        require(feed.latestRound() == ROUND, "latestRound");
        require(feed.version() == 4, "version");
    }

    function testAnswersFromStorage() public {
        FixedFeed feed = new FixedFeed();
        _check(feed, 0, 0);
        _set(address(feed), 1_900e8, 8);
        _check(feed, 1_900e8, 8);
        _set(address(feed), -5, 18); // two's complement in the slot
        _check(feed, -5, 18);
    }

    function testTimestampFollowsTheBlock() public {
        FixedFeed feed = new FixedFeed();
        _set(address(feed), 2_000e8, 8);
        VM.warp(block.timestamp + 1_000);
        _check(feed, 2_000e8, 8);
    }

    function testInPlaceOfAnotherFeedsCode() public {
        // As the simulators use it: a real feed's code swapped, its slots 0 and 1 set.
        OtherFeed real = new OtherFeed();
        VM.etch(address(real), type(FixedFeed).runtimeCode);
        _set(address(real), 1_500e8, 8);
        _check(FixedFeed(address(real)), 1_500e8, 8);
    }
}
