// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice The calls the executor tests make to set up and inspect the real protocol contracts.

interface ITestToken {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
    function approve(address spender, uint256 amount) external returns (bool);
    function mint(address to, uint256 amount) external returns (bool); // Aave's MintableERC20
    function deposit() external payable; // WETH9
}

interface IV2Factory {
    function createPair(address tokenA, address tokenB) external returns (address pair);
}

interface IV2PairFull {
    function mint(address to) external returns (uint256 liquidity);
    function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast);
}

interface IV3Factory {
    function createPool(address tokenA, address tokenB, uint24 fee) external returns (address pool);
}

interface IV3PoolFull {
    function initialize(uint160 sqrtPriceX96) external;
    function mint(address recipient, int24 tickLower, int24 tickUpper, uint128 amount, bytes calldata data)
        external
        returns (uint256 amount0, uint256 amount1);
    function token0() external view returns (address);
    function token1() external view returns (address);
}

interface IBalancerVaultFull {
    struct JoinPoolRequest {
        address[] assets;
        uint256[] maxAmountsIn;
        bytes userData;
        bool fromInternalBalance;
    }

    function getProtocolFeesCollector() external view returns (address);

    function joinPool(bytes32 poolId, address sender, address recipient, JoinPoolRequest calldata request)
        external
        payable;
}

interface IWeightedPoolFactory {
    function create(
        string calldata name,
        string calldata symbol,
        address[] calldata tokens,
        uint256[] calldata normalizedWeights,
        address[] calldata rateProviders,
        uint256 swapFeePercentage,
        address owner
    ) external returns (address pool);
}

interface IWeightedPool {
    function getPoolId() external view returns (bytes32);
}

interface IAaveFlashPool {
    function flashLoanSimple(address receiver, address asset, uint256 amount, bytes calldata params, uint16 code)
        external;
}

interface IVTokenView {
    function borrowBalanceStored(address account) external view returns (uint256);
    function balanceOf(address account) external view returns (uint256);
}

interface ISettableFeed {
    function setAnswer(int256 answer) external;
}
