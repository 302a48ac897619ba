// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Venus (Compound V2 family) VBep20 market. Returns error codes (0 = success) instead of reverting.
interface IVToken {
    function balanceOf(address account) external view returns (uint256);
    function liquidateBorrow(address borrower, uint256 repayAmount, address vTokenCollateral) external returns (uint256);
    function redeem(uint256 redeemTokens) external returns (uint256);
}
