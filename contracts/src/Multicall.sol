// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title Multicall
/// @notice Batches read calls into one eth_call. Its ABI matches Multicall3's
///         `aggregate3`, so the same client code works on the devnet and on
///         mainnets where Multicall3 is already deployed.
contract Multicall {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    error CallFailed(uint256 index);

    function aggregate3(Call3[] calldata calls) external payable returns (Result[] memory results) {
        uint256 n = calls.length;
        results = new Result[](n);
        for (uint256 i = 0; i < n; ++i) {
            Call3 calldata c = calls[i];
            (bool ok, bytes memory data) = c.target.call(c.callData);
            if (!ok && !c.allowFailure) revert CallFailed(i);
            results[i] = Result(ok, data);
        }
    }

    function getBlockNumber() external view returns (uint256) {
        return block.number;
    }

    function getEthBalance(address account) external view returns (uint256) {
        return account.balance;
    }
}
