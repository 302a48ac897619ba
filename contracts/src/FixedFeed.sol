// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title FixedFeed
/// @notice A Chainlink-style feed that answers whatever its storage holds: slot 0 the answer
///         (int256), slot 1 the decimals (uint8). The simulators put its runtime code in place
///         of a real feed's, with those two slots set, to run a plan at a chosen price. So no
///         constructor arguments and no immutables: everything comes from storage or constants.
///         Compiled without a metadata hash (foundry.toml) so its code is fixed by its source.
contract FixedFeed {
    /// A round id no real feed reaches, the same in every answer.
    uint80 internal constant ROUND = type(uint64).max;

    int256 private _answer; // slot 0
    uint8 private _decimals; // slot 1

    function latestAnswer() external view returns (int256) {
        return _answer;
    }

    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        // Updated this very block: oracles that refuse stale answers accept it.
        return (ROUND, _answer, block.timestamp, block.timestamp, ROUND);
    }

    function decimals() external view returns (uint8) {
        return _decimals;
    }

    function latestTimestamp() external view returns (uint256) {
        return block.timestamp;
    }

    function latestRound() external pure returns (uint256) {
        return ROUND;
    }

    function version() external pure returns (uint256) {
        return 4;
    }
}
