// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Uniswap V3 pool: swap (pays through uniswapV3SwapCallback) and flash (uniswapV3FlashCallback).
interface IUniswapV3Pool {
    function token0() external view returns (address);
    function swap(
        address recipient,
        bool zeroForOne,
        int256 amountSpecified,
        uint160 sqrtPriceLimitX96,
        bytes calldata data
    ) external returns (int256 amount0, int256 amount1);
    function flash(address recipient, uint256 amount0, uint256 amount1, bytes calldata data) external;
}
