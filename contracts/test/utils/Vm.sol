// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice The forge cheatcodes the executor tests use (no forge-std here: offline, no lib/).
interface Vm {
    struct Gas {
        uint64 gasLimit;
        uint64 gasTotalUsed;
        uint64 gasMemoryUsed;
        int64 gasRefunded;
        uint64 gasRemaining;
    }

    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function lastCallGas() external view returns (Gas memory gas);
    function cool(address target) external;
    function deal(address account, uint256 newBalance) external;
    function warp(uint256 timestamp) external;
    function roll(uint256 blockNumber) external;
    function prank(address sender) external;
    function coinbase(address newCoinbase) external;
    function skip(bool skipTest) external;
    function getCode(string calldata artifactPath) external view returns (bytes memory);
    function readFile(string calldata path) external view returns (string memory);
    function parseBytes(string calldata hexString) external pure returns (bytes memory);
    function envOr(string calldata name, string calldata defaultValue) external view returns (string memory);
    function parseJsonString(string calldata json, string calldata key) external pure returns (string memory);
    function parseJsonAddress(string calldata json, string calldata key) external pure returns (address);
    function parseJsonBytes32(string calldata json, string calldata key) external pure returns (bytes32);
    function parseJsonUint(string calldata json, string calldata key) external pure returns (uint256);
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);
    function createSelectFork(string calldata urlOrAlias) external returns (uint256 forkId);
}

Vm constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
