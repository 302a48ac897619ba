// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Aave V3 pool: liquidations and single-asset flash loans (executeOperation callback).
interface IAaveV3Pool {
    function liquidationCall(
        address collateralAsset,
        address debtAsset,
        address user,
        uint256 debtToCover,
        bool receiveAToken
    ) external;

    function flashLoanSimple(
        address receiverAddress,
        address asset,
        uint256 amount,
        bytes calldata params,
        uint16 referralCode
    ) external;
}
