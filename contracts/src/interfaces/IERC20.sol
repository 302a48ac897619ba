// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice The ERC20 calls the executor makes (transfer/approve go through SafeTransfer).
interface IERC20 {
    function balanceOf(address account) external view returns (uint256);
    function allowance(address owner, address spender) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
}

/// @notice WETH9 / WBNB: unwrapped to pay the block builder its tip in the native coin.
interface IWETH {
    function withdraw(uint256 amount) external;
}
