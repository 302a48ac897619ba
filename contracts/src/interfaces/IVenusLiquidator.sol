// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Venus core pool's Liquidator (BNB Chain sets it as the comptroller's liquidatorContract, and then
///         only it may call vToken.liquidateBorrow). Pulls `repayAmount` of the borrowed underlying from the
///         caller, liquidates, keeps the treasury's share of the seized bonus and sends the caller the rest of
///         the seized vTokens. Reverts on failure (LiquidationFailed(errorCode)), unlike the vTokens.
interface IVenusLiquidator {
    function liquidateBorrow(address vToken, address borrower, uint256 repayAmount, address vTokenCollateral)
        external
        payable;
}
