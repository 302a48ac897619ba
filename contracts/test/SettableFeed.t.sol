// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {SettableFeed} from "../src/devnet/SettableFeed.sol";

contract Stranger {
    function poke(SettableFeed feed) external {
        feed.setAnswer(1);
    }
}

contract SettableFeedTest {
    function testSetAnswerMovesRound() public {
        SettableFeed feed = new SettableFeed(8, "ETH / USD", 2000e8);
        feed.setAnswer(1500e8);
        (uint80 round, int256 answer,,,) = feed.latestRoundData();
        require(answer == 1500e8 && round == 2, "round data");
        require(feed.latestAnswer() == 1500e8, "latestAnswer");
    }

    function testOnlyOwnerSets() public {
        SettableFeed feed = new SettableFeed(8, "ETH / USD", 2000e8);
        Stranger s = new Stranger();
        try s.poke(feed) {
            revert("stranger set the price");
        } catch {}
    }
}
