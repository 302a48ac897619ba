// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title SettableFeed
/// @notice Devnet-only Chainlink-style price feed that tests move on purpose.
///         Speaks AggregatorV3 (latestRoundData) and the legacy interface
///         (latestAnswer) and emits Chainlink's AnswerUpdated event.
contract SettableFeed {
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    address public immutable owner;
    uint8 public immutable decimals;
    string public description;
    int256 public latestAnswer;
    uint256 public latestTimestamp;
    uint256 public latestRound;

    constructor(uint8 decimals_, string memory description_, int256 answer) {
        owner = msg.sender;
        decimals = decimals_;
        description = description_;
        _set(answer);
    }

    function setAnswer(int256 answer) external {
        require(msg.sender == owner, "only owner");
        _set(answer);
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        roundId = uint80(latestRound);
        return (roundId, latestAnswer, latestTimestamp, latestTimestamp, roundId);
    }

    function version() external pure returns (uint256) {
        return 4;
    }

    function _set(int256 answer) private {
        latestAnswer = answer;
        latestTimestamp = block.timestamp;
        latestRound += 1;
        emit AnswerUpdated(answer, latestRound, block.timestamp);
    }
}
