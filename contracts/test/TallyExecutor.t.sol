// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TallyExecutor} from "../src/TallyExecutor.sol";
import {ExecutorTestBase} from "./utils/ExecutorTestBase.sol";
import {
    IBalancerVaultFull,
    ITestToken,
    IV2Factory,
    IV2PairFull,
    IV3Factory,
    IV3PoolFull,
    IWeightedPool,
    IWeightedPoolFactory
} from "./utils/Protocols.sol";
import {vm} from "./utils/Vm.sol";

/// @notice The executor against the published bytecode of WETH9, Uniswap V2 and V3 and the Balancer V2
///         vault with a weighted pool, deployed from node_modules (no devnet needed). Aave V3 and Venus
///         need linked libraries and a diamond: TallyExecutorForkTest runs those on a fork of the devnet.
///
///         Market: WETH sells for 2,000 USDC on `pairCheap`, the V3 0.3% pool and the Balancer 80/20 pool,
///         and for 2,100 on `pairDear` and the V3 0.05% pool, so buying low and selling high pays.
contract TallyExecutorTest is ExecutorTestBase {
    string internal constant NM = "../node_modules/";
    string internal constant WETH9 = "@uniswap/v2-periphery/build/WETH9.json";
    string internal constant ERC20 =
        "@aave/core-v3/artifacts/contracts/mocks/tokens/MintableERC20.sol/MintableERC20.json";
    string internal constant V2_FACTORY = "@uniswap/v2-core/build/UniswapV2Factory.json";
    string internal constant V3_FACTORY =
        "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json";
    string internal constant BAL = "@balancer-labs/v2-deployments/dist/tasks/";
    string internal constant AUTHORIZER = "20210418-authorizer/artifact/Authorizer.json";
    string internal constant VAULT = "20210418-vault/artifact/Vault.json";
    string internal constant FEE_PROVIDER =
        "20220725-protocol-fee-percentages-provider/artifact/ProtocolFeePercentagesProvider.json";
    string internal constant WEIGHTED_FACTORY = "20230206-weighted-pool-v3/artifact/WeightedPoolFactory.json";

    address internal constant OUTSIDER = address(0xBAD);
    address internal constant BUILDER = address(0xB0B);

    address internal weth;
    address internal usdc;
    address internal pairCheap; // Uniswap V2 WETH/USDC at 2,000
    address internal pairDear; // a second V2 factory (a "fork"), WETH at 2,100
    address internal v3Dear; // V3 0.05%, WETH at 2,100
    address internal v3Lender; // V3 0.3%, WETH at 2,000: the V3 flash-loan source
    address internal vault; // Balancer V2
    bytes32 internal poolId; // Balancer 80 WETH / 20 USDC at 2,000, 0.3% fee
    address internal balancerPool;
    address internal balancerFees; // the vault asks its fee collector for the flash-loan fee

    receive() external payable {} // withdraw(ETH) lands here

    function setUp() public {
        vm.deal(address(this), 1e30);
        weth = _create(_waffleCode(string.concat(NM, WETH9)));
        usdc = _create(abi.encodePacked(vm.getCode(string.concat(NM, ERC20)), abi.encode("USD Coin", "USDC", uint8(6))));
        pairCheap = _v2Pair(1_000 ether, 2_000_000e6);
        pairDear = _v2Pair(1_000 ether, 2_100_000e6);
        address v3Factory = _create(vm.getCode(string.concat(NM, V3_FACTORY)));
        v3Dear = _v3Pool(v3Factory, 500, 10, 1_000 ether, 2_100_000e6);
        v3Lender = _v3Pool(v3Factory, 3000, 60, 1_000 ether, 2_000_000e6);
        _balancer(4_000 ether, 2_000_000e6);
        executor = new TallyExecutor(address(this), weth);
        touched = [weth, usdc, pairCheap, pairDear, v3Dear, v3Lender, vault, balancerPool, balancerFees];
    }

    // -- each action on the executor's own balance ------------------------------------------------

    function testUniswapV2SwapPaysGetAmountOut() public {
        _fund(weth, address(executor), 1 ether);
        uint256 expected = _v2Out(pairCheap, weth, usdc, 1 ether, 30);
        TallyExecutor.Action[] memory swap = _list(_v2Swap(pairCheap, weth, usdc, 1 ether, 30));
        uint256 got = _run("gas: UniswapV2Swap WETH->USDC, own balance", _noLoan(), swap, usdc, expected);
        require(got == expected, "not UniswapV2Library.getAmountOut");
        require(_balance(weth, address(executor)) == 0, "left input behind");
    }

    function testUniswapV2SwapOtherDirection() public {
        _fund(usdc, address(executor), 5_000e6);
        uint256 expected = _v2Out(pairDear, usdc, weth, 4_000e6, 30);
        TallyExecutor.Action[] memory swap = _list(_v2Swap(pairDear, usdc, weth, 4_000e6, 30));
        require(executor.execute(_noLoan(), swap, weth, expected, 0) == expected, "wrong output");
        require(_balance(usdc, address(executor)) == 1_000e6, "spent more than amountIn");
    }

    function testUniswapV3SwapPaysThePoolInTheCallback() public {
        _fund(weth, address(executor), 1 ether);
        uint256 poolWeth = _balance(weth, v3Dear);
        TallyExecutor.Action[] memory swap = _list(_v3Swap(v3Dear, weth, usdc, 1 ether));
        uint256 got = _run("gas: UniswapV3Swap WETH->USDC, own balance", _noLoan(), swap, usdc, 2_090e6);
        require(got > 2_090e6 && got < 2_100e6, "not ~2,100 less 0.05%");
        require(_balance(weth, v3Dear) == poolWeth + 1 ether, "pool not paid exactly");
        // and back, token1 -> token0 or the reverse depending on the address order
        TallyExecutor.Action[] memory back = _list(_v3Swap(v3Dear, usdc, weth, got));
        require(executor.execute(_noLoan(), back, weth, 0.99 ether, 0) < 1 ether, "free money");
        require(_balance(usdc, address(executor)) == 0, "left input behind");
    }

    function testBalancerSwap() public {
        _fund(usdc, address(executor), 10_000e6);
        uint256 vaultUsdc = _balance(usdc, vault);
        TallyExecutor.Action[] memory swap = _list(_balancerSwap(vault, poolId, usdc, weth, 10_000e6));
        uint256 got = _run("gas: BalancerSwap USDC->WETH, own balance", _noLoan(), swap, weth, 4.9 ether);
        require(got < 5 ether, "more than 10,000 / 2,000");
        require(_balance(usdc, vault) == vaultUsdc + 10_000e6, "vault not paid exactly");
        require(_balance(weth, address(executor)) == got, "output not received");
    }

    // -- "amountIn == 0": what the execution brought in, never inventory ---------------------------

    function testAllSpendsOnlyWhatThisExecutionBroughtIn() public {
        // Inventory and profits kept from earlier runs: USDC and WETH, both on the route.
        _fund(usdc, address(executor), 5_000e6);
        _fund(weth, address(executor), 2 ether);
        uint256 expected = _v2RoundTrip(20_000e6);
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 20_000e6);
        require(executor.execute(loan, _cheapToDear(), usdc, expected, 0) == expected, "profit");
        require(_balance(weth, address(executor)) == 2 ether, "ALL spent WETH held before");
        require(_balance(usdc, address(executor)) == 5_000e6 + expected, "ALL spent USDC held before");
    }

    function testAllOnOwnBalanceSpendsNothingHeldBefore() public {
        _fund(weth, address(executor), 1 ether);
        TallyExecutor.Action[] memory swap = _list(_v2Swap(pairCheap, weth, usdc, ALL, 30));
        // A swap of nothing: the pair refuses it (UniswapV2: INSUFFICIENT_OUTPUT_AMOUNT).
        (bool ok,) = address(executor).call(_executeCall(_noLoan(), swap, usdc, 0, 0));
        require(!ok, "a swap of held inventory went through");
        require(_balance(weth, address(executor)) == 1 ether, "inventory spent");
    }

    // -- flash sources ----------------------------------------------------------------------------

    function testNoLoanArbitrage() public {
        _fund(usdc, address(executor), 20_000e6);
        uint256 expected = _v2RoundTrip(20_000e6);
        TallyExecutor.Action[] memory route =
            _list(_v2Swap(pairCheap, usdc, weth, 20_000e6, 30), _v2Swap(pairDear, weth, usdc, ALL, 30));
        uint256 got = _run("gas: arbitrage V2->V2, own balance", _noLoan(), route, usdc, expected);
        require(got == expected, "profit");
        require(_balance(usdc, address(executor)) == 20_000e6 + expected, "balance");
    }

    function testBalancerFlashLoanArbitrage() public {
        uint256 vaultUsdc = _balance(usdc, vault);
        uint256 expected = _v2RoundTrip(20_000e6);
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 20_000e6);
        uint256 got = _run("gas: arbitrage V2->V2, Balancer flash loan", loan, _cheapToDear(), usdc, expected);
        require(got == expected && expected > 300e6, "profit");
        require(_balance(usdc, vault) == vaultUsdc, "vault not repaid (fee 0)");
        require(_balance(usdc, address(executor)) == expected, "profit not kept");
    }

    function testUniswapV3FlashArbitrage() public {
        uint256 lenderUsdc = _balance(usdc, v3Lender);
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.UniswapV3, v3Lender, usdc, 20_000e6);
        TallyExecutor.Action[] memory route =
            _list(_balancerSwap(vault, poolId, usdc, weth, ALL), _v3Swap(v3Dear, weth, usdc, ALL));
        uint256 got = _run("gas: arbitrage Balancer->V3, Uniswap V3 flash", loan, route, usdc, 100e6);
        require(_balance(usdc, v3Lender) == lenderUsdc + 60e6, "lender not paid 0.3%");
        require(_balance(usdc, address(executor)) == got, "profit not kept");
    }

    function testUniswapV3FlashSameRouteAsBalancer() public {
        uint256 expected = _v2RoundTrip(20_000e6) - 60e6; // less the 0.3% flash fee
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.UniswapV3, v3Lender, usdc, 20_000e6);
        uint256 got = _run("gas: arbitrage V2->V2, Uniswap V3 flash", loan, _cheapToDear(), usdc, expected);
        require(got == expected, "profit");
    }

    function testUniswapV3FlashOfToken0AndToken1() public {
        // Borrow WETH instead: the other side of the same pool.
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.UniswapV3, v3Lender, weth, 10 ether);
        TallyExecutor.Action[] memory route =
            _list(_v3Swap(v3Dear, weth, usdc, ALL), _v2Swap(pairCheap, usdc, weth, ALL, 30));
        uint256 lenderWeth = _balance(weth, v3Lender);
        uint256 got = executor.execute(loan, route, weth, 0.1 ether, 0);
        require(_balance(weth, v3Lender) == lenderWeth + 0.03 ether, "lender not paid 0.3%");
        require(_balance(weth, address(executor)) == got, "profit not kept");
    }

    function testTipGoesToCoinbaseInEth() public {
        vm.coinbase(BUILDER);
        vm.deal(BUILDER, 1 ether); // an existing account, as a builder is (no new-account surcharge)
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, weth, 10 ether);
        TallyExecutor.Action[] memory route =
            _list(_v2Swap(pairDear, weth, usdc, ALL, 30), _v2Swap(pairCheap, usdc, weth, ALL, 30));
        uint256 gained = _v2Out(pairCheap, usdc, weth, _v2Out(pairDear, weth, usdc, 10 ether, 30), 30) - 10 ether;
        string memory label = "gas: arbitrage V2->V2, Balancer flash, 25% tip in ETH";
        uint256 kept = _runWithTip(label, loan, route, weth, 0, 2_500);
        require(BUILDER.balance == 1 ether + gained / 4, "tip is 25% of the gain");
        require(kept == gained - gained / 4 && _balance(weth, address(executor)) == kept, "kept the rest");
    }

    function testSameRouteWithoutTipGas() public {
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, weth, 10 ether);
        TallyExecutor.Action[] memory route =
            _list(_v2Swap(pairDear, weth, usdc, ALL, 30), _v2Swap(pairCheap, usdc, weth, ALL, 30));
        _run("gas: arbitrage V2->V2, Balancer flash, no tip", loan, route, weth, 0.1 ether);
    }

    function testBaselineGas() public {
        _fund(usdc, address(executor), 1);
        _run("gas: execute, no loan, no actions", _noLoan(), new TallyExecutor.Action[](0), usdc, 0);
    }

    // -- failure paths ----------------------------------------------------------------------------

    function testUnprofitableRouteReverts() public {
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 20_000e6);
        TallyExecutor.Action[] memory wrongWay =
            _list(_v2Swap(pairDear, usdc, weth, ALL, 30), _v2Swap(pairCheap, weth, usdc, ALL, 30));
        // The loss leaves too little to repay the vault: the vault reverts before our check.
        _expectRevertAny(_executeCall(loan, wrongWay, usdc, 0, 0));
        // With inventory to cover the loss the loan is repaid, and the profit check reverts.
        _fund(usdc, address(executor), 5_000e6);
        _expectRevert(_executeCall(loan, wrongWay, usdc, 0, 0), TallyExecutor.NotProfitable.selector);
    }

    function testProfitBelowMinimumReverts() public {
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 20_000e6);
        uint256 expected = _v2RoundTrip(20_000e6);
        bytes memory call = _executeCall(loan, _cheapToDear(), usdc, expected + 1, 0);
        (bool ok, bytes memory ret) = address(executor).call(call);
        // (gained, minProfit); a positive int256 encodes like the uint256
        bytes memory want = abi.encodeWithSelector(TallyExecutor.NotProfitable.selector, expected, expected + 1);
        require(!ok && keccak256(ret) == keccak256(want), "error carries gain and minimum");
    }

    function testTipRules() public {
        TallyExecutor.Action[] memory none = new TallyExecutor.Action[](0);
        _expectRevert(_executeCall(_noLoan(), none, usdc, 0, 1), TallyExecutor.BadTip.selector); // USDC profit
        _expectRevert(_executeCall(_noLoan(), none, weth, 0, 10_001), TallyExecutor.BadTip.selector);
    }

    function testOnlyOwnerExecutesAndWithdraws() public {
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 20_000e6);
        bytes memory call = _executeCall(loan, _cheapToDear(), usdc, 0, 0);
        vm.prank(OUTSIDER);
        (bool ok, bytes memory ret) = address(executor).call(call);
        require(!ok && _selector(ret) == TallyExecutor.Unauthorized.selector, "outsider executed");
        vm.prank(OUTSIDER);
        (ok, ret) = address(executor).call(abi.encodeCall(TallyExecutor.withdraw, (usdc, 0)));
        require(!ok && _selector(ret) == TallyExecutor.Unauthorized.selector, "outsider withdrew");
    }

    function testForeignFlashLoanIntoExecutorReverts() public {
        // Balancer lends to any recipient: an outsider pointing the vault at us must be turned away.
        address[] memory tokens = new address[](1);
        uint256[] memory amounts = new uint256[](1);
        tokens[0] = usdc;
        amounts[0] = 1_000e6;
        bytes memory data = abi.encode(_cheapToDear());
        vm.prank(OUTSIDER);
        (bool ok, bytes memory ret) = vault.call(
            abi.encodeWithSignature(
                "flashLoan(address,address[],uint256[],bytes)", address(executor), tokens, amounts, data
            )
        );
        require(!ok && _selector(ret) == TallyExecutor.UnexpectedCallback.selector, "foreign loan accepted");
    }

    function testDirectCallbacksRevert() public {
        bytes memory actions = abi.encode(new TallyExecutor.Action[](0));
        bytes4 err = TallyExecutor.UnexpectedCallback.selector;
        _expectRevert(
            abi.encodeCall(
                TallyExecutor.receiveFlashLoan, (new address[](1), new uint256[](1), new uint256[](1), actions)
            ),
            err
        );
        _expectRevert(abi.encodeCall(TallyExecutor.uniswapV3FlashCallback, (0, 0, actions)), err);
        _expectRevert(abi.encodeCall(TallyExecutor.uniswapV3SwapCallback, (1, 0, abi.encode(usdc))), err);
        _expectRevert(abi.encodeCall(TallyExecutor.executeOperation, (usdc, 1, 0, address(executor), actions)), err);
    }

    function testWithdrawTokensAndEth() public {
        _fund(usdc, address(executor), 700e6);
        uint256 mine = _balance(usdc, address(this));
        executor.withdraw(usdc, 700e6);
        require(_balance(usdc, address(this)) == mine + 700e6, "token withdraw");
        vm.deal(address(executor), 1 ether); // e.g. a tip left behind by a failed coinbase send
        uint256 eth = address(this).balance;
        executor.withdraw(address(0), 1 ether);
        require(address(this).balance == eth + 1 ether, "eth withdraw");
    }

    function testRejectsStrayEth() public {
        (bool ok,) = address(executor).call{value: 1}("");
        require(!ok, "accepted ETH from someone other than WETH");
    }

    // -- helpers ----------------------------------------------------------------------------------

    function _cheapToDear() internal view returns (TallyExecutor.Action[] memory) {
        return _list(_v2Swap(pairCheap, usdc, weth, ALL, 30), _v2Swap(pairDear, weth, usdc, ALL, 30));
    }

    function _v2RoundTrip(uint256 usdcIn) internal view returns (uint256) {
        return _v2Out(pairDear, weth, usdc, _v2Out(pairCheap, usdc, weth, usdcIn, 30), 30) - usdcIn;
    }

    /// UniswapV2Library.getAmountOut, written as the library writes it (997/1000 for 30 bps).
    function _v2Out(address pair, address tokenIn, address tokenOut, uint256 amountIn, uint256 feeBps)
        internal
        view
        returns (uint256)
    {
        (uint256 r0, uint256 r1,) = IV2PairFull(pair).getReserves();
        (uint256 rIn, uint256 rOut) = tokenIn < tokenOut ? (r0, r1) : (r1, r0);
        uint256 inWithFee = amountIn * (10_000 - feeBps) / 10;
        return inWithFee * rOut / (rIn * 1_000 + inWithFee);
    }

    function _expectRevertAny(bytes memory callData) internal {
        (bool ok,) = address(executor).call(callData);
        require(!ok, "call did not revert");
    }

    function _balance(address token, address who) internal view returns (uint256) {
        return ITestToken(token).balanceOf(who);
    }

    function _fund(address token, address to, uint256 amount) internal {
        if (token == weth) {
            ITestToken(weth).deposit{value: amount}();
            require(ITestToken(weth).transfer(to, amount), "weth transfer");
        } else {
            ITestToken(token).mint(to, amount);
        }
    }

    function _v2Pair(uint256 wethAmount, uint256 usdcAmount) internal returns (address pair) {
        bytes memory code = _waffleCode(string.concat(NM, V2_FACTORY));
        address factory = _create(abi.encodePacked(code, abi.encode(address(this))));
        pair = IV2Factory(factory).createPair(weth, usdc);
        _fund(weth, pair, wethAmount);
        _fund(usdc, pair, usdcAmount);
        IV2PairFull(pair).mint(address(this));
    }

    /// A full-range position holding about these amounts, priced at their ratio.
    function _v3Pool(address factory, uint24 fee, int24 spacing, uint256 wethAmount, uint256 usdcAmount)
        internal
        returns (address pool)
    {
        pool = IV3Factory(factory).createPool(weth, usdc, fee);
        (uint256 a0, uint256 a1) = weth < usdc ? (wethAmount, usdcAmount) : (usdcAmount, wethAmount);
        IV3PoolFull(pool).initialize(uint160(_sqrt((a1 << 96) / a0) << 48)); // sqrt(a1 / a0) * 2**96
        int24 top = 887272 / spacing * spacing;
        IV3PoolFull(pool).mint(address(this), -top, top, uint128(_sqrt(a0 * a1)), "");
    }

    function uniswapV3MintCallback(uint256 owed0, uint256 owed1, bytes calldata) external {
        _fund(IV3PoolFull(msg.sender).token0(), msg.sender, owed0);
        _fund(IV3PoolFull(msg.sender).token1(), msg.sender, owed1);
    }

    function _balancer(uint256 wethAmount, uint256 usdcAmount) internal {
        address authorizer = _create(abi.encodePacked(_bal(AUTHORIZER), abi.encode(address(this))));
        vault = _create(abi.encodePacked(_bal(VAULT), abi.encode(authorizer, weth, 90 days, 30 days)));
        address fees = _create(abi.encodePacked(_bal(FEE_PROVIDER), abi.encode(vault, 5e17, 5e17)));
        address factory = _create(abi.encodePacked(_bal(WEIGHTED_FACTORY), abi.encode(vault, fees, "v3", "v3")));
        bool wethFirst = weth < usdc; // the vault wants tokens sorted
        address[] memory tokens = new address[](2);
        uint256[] memory weights = new uint256[](2);
        uint256[] memory amounts = new uint256[](2);
        (tokens[0], tokens[1]) = wethFirst ? (weth, usdc) : (usdc, weth);
        (weights[0], weights[1]) = wethFirst ? (uint256(0.8e18), uint256(0.2e18)) : (uint256(0.2e18), uint256(0.8e18));
        (amounts[0], amounts[1]) = wethFirst ? (wethAmount, usdcAmount) : (usdcAmount, wethAmount);
        balancerPool = IWeightedPoolFactory(factory)
            .create(
                "Balancer 80 WETH 20 USDC",
                "B-80WETH-20USDC",
                tokens,
                weights,
                new address[](2),
                0.003e18,
                address(this)
            );
        poolId = IWeightedPool(balancerPool).getPoolId();
        balancerFees = IBalancerVaultFull(vault).getProtocolFeesCollector();
        for (uint256 i; i < 2; ++i) {
            _fund(tokens[i], address(this), amounts[i]);
            ITestToken(tokens[i]).approve(vault, amounts[i]);
        }
        bytes memory init = abi.encode(uint256(0), amounts); // JoinKind.INIT
        IBalancerVaultFull(vault)
            .joinPool(
                poolId, address(this), address(this), IBalancerVaultFull.JoinPoolRequest(tokens, amounts, init, false)
            );
    }

    function _bal(string memory task) internal view returns (bytes memory) {
        return vm.getCode(string.concat(NM, BAL, task));
    }

    function _sqrt(uint256 x) internal pure returns (uint256 y) {
        if (x == 0) return 0;
        y = x;
        uint256 z = (x >> 1) + 1;
        while (z < y) {
            y = z;
            z = (x / z + z) >> 1;
        }
    }
}
