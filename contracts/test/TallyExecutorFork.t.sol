// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TallyExecutor} from "../src/TallyExecutor.sol";
import {ExecutorTestBase} from "./utils/ExecutorTestBase.sol";
import {IAaveFlashPool, ISettableFeed, ITestToken, IVTokenView} from "./utils/Protocols.sol";
import {vm} from "./utils/Vm.sol";

/// @notice Liquidations on a fork of the running devnet: Aave V3 (linked libraries) and Venus (a diamond
///         comptroller) are deployed there from their published bytecode, with borrowers near liquidation.
///         The devnet manifest comes as JSON text in $TALLYIO_DEVNET_MANIFEST_JSON; without it every test
///         is skipped, so a plain `forge test` passes offline. tests/integration/test_executor_contract.py
///         runs this suite against the session devnet:
///           TALLYIO_DEVNET_MANIFEST_JSON="$(cat .devnet/manifest.json)" forge test --match-contract Fork
contract TallyExecutorForkTest is ExecutorTestBase {
    int256 internal constant ETH_USD = 2_000e8; // the devnet's reference price
    int256 internal constant SHOCKED_ETH_USD = 1_900e8; // -5%: tips aave and venus borrower 0 over

    address internal deployer; // owns the settable price feeds
    address internal weth;
    address internal usdc;
    address internal wethFeed;
    address internal aavePool;
    address internal aaveBorrower; // 10 WETH against 15,800 USDC
    address internal vault;
    bytes32 internal balancerWethUsdc;
    address internal v2WethUsdc;
    uint256 internal v2FeeBps;
    address internal v3Fast; // WETH/USDC 0.05%
    address internal v3Lender; // WETH/USDC 0.3%
    address internal vUsdc;
    address internal vWeth;
    address internal venusBorrower; // 10 WETH against 15,900 USDC
    address internal aUsdc; // Aave's USDC reserve sits in its aToken
    address internal usdcDebtToken;

    function setUp() public {
        string memory json = vm.envOr("TALLYIO_DEVNET_MANIFEST_JSON", string(""));
        if (bytes(json).length == 0) vm.skip(true); // no devnet: nothing to fork
        vm.createSelectFork(_str(json, ".rpc_url"));
        // Run in the next block, as a sent transaction would: interest accrues, indexes update.
        vm.warp(block.timestamp + 12);
        vm.roll(block.number + 1);
        deployer = _addr(json, ".accounts.deployer.address");
        weth = _addr(json, ".tokens.WETH");
        usdc = _addr(json, ".tokens.USDC");
        wethFeed = _addr(json, ".price_feeds.WETH");
        aavePool = _addr(json, ".aave_v3.pool");
        aaveBorrower = _addr(json, ".borrowers.aave_v3[0]");
        vault = _addr(json, ".balancer_v2.vault");
        balancerWethUsdc = vm.parseJsonBytes32(json, ".balancer_v2.pools[0].pool_id");
        _expectPair(json, ".balancer_v2.pools[0].symbols[0]", ".balancer_v2.pools[0].symbols[1]");
        v2WethUsdc = _addr(json, ".uniswap_v2[0].pairs[0].address");
        v2FeeBps = vm.parseJsonUint(json, ".uniswap_v2[0].fee_bps");
        _expectPair(json, ".uniswap_v2[0].pairs[0].symbol0", ".uniswap_v2[0].pairs[0].symbol1");
        v3Fast = _addr(json, ".uniswap_v3.pools[0].address");
        v3Lender = _addr(json, ".uniswap_v3.pools[1].address");
        _expectPair(json, ".uniswap_v3.pools[0].symbol0", ".uniswap_v3.pools[0].symbol1");
        _expectPair(json, ".uniswap_v3.pools[1].symbol0", ".uniswap_v3.pools[1].symbol1");
        require(vm.parseJsonUint(json, ".uniswap_v3.pools[1].fee") == 3000, "manifest: V3 pool 1 is not 0.3%");
        vUsdc = _addr(json, ".venus.vtokens.USDC");
        vWeth = _addr(json, ".venus.vtokens.WETH");
        venusBorrower = _addr(json, ".borrowers.venus[0]");
        aUsdc = _addr(json, ".aave_v3.reserves.USDC.a_token");
        usdcDebtToken = _addr(json, ".aave_v3.reserves.USDC.variable_debt_token");
        executor = new TallyExecutor(address(this), weth);
        touched = [weth, usdc, wethFeed, aavePool, vault, v2WethUsdc, v3Fast, v3Lender, vUsdc, vWeth];
    }

    // -- Aave V3 liquidation, from every flash source ---------------------------------------------

    function testAaveLiquidationBalancerFlash() public {
        _shockEth();
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 5_000e6);
        uint256 got = _run("gas: Aave liquidation + V2 sale, Balancer flash", loan, _aaveThenV2(), usdc, 300e6);
        _expectAaveRepaid(5_000e6);
        require(ITestToken(usdc).balanceOf(address(executor)) == got, "profit not kept");
        require(ITestToken(weth).balanceOf(address(executor)) == 0, "collateral not sold");
    }

    function testAaveLiquidationAaveFlash() public {
        _shockEth();
        uint256 poolUsdc = ITestToken(usdc).balanceOf(aUsdc);
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.AaveV3, aavePool, usdc, 5_000e6);
        uint256 got = _run("gas: Aave liquidation + V2 sale, Aave flash", loan, _aaveThenV2(), usdc, 300e6);
        // The aToken holds the reserve: it got back the loan, the 5,000 repaid debt and the 0.05% premium.
        uint256 aTokenUsdc = ITestToken(usdc).balanceOf(aUsdc);
        require(aTokenUsdc == poolUsdc + 5_000e6 + 2.5e6, "loan + premium + repaid debt");
        require(ITestToken(usdc).balanceOf(address(executor)) == got, "profit not kept");
    }

    function testAaveLiquidationUniswapV3Flash() public {
        _shockEth();
        uint256 lenderUsdc = ITestToken(usdc).balanceOf(v3Lender);
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.UniswapV3, v3Lender, usdc, 5_000e6);
        TallyExecutor.Action[] memory actions = _list(
            _aaveLiquidation(aavePool, weth, usdc, aaveBorrower, ALL),
            _v3Swap(v3Fast, weth, usdc, ALL) // the lending pool is locked during its flash: sell elsewhere
        );
        uint256 got = _run("gas: Aave liquidation + V3 sale, Uniswap V3 flash", loan, actions, usdc, 300e6);
        require(ITestToken(usdc).balanceOf(v3Lender) == lenderUsdc + 15e6, "lender not paid 0.3%");
        require(ITestToken(usdc).balanceOf(address(executor)) == got, "profit not kept");
    }

    function testAaveLiquidationOnOwnBalance() public {
        _shockEth();
        ITestToken(usdc).mint(address(executor), 5_000e6); // the devnet's tokens mint to anyone
        // On its own inventory the first step names its amount ("0" spends only what the run brought in).
        TallyExecutor.Action[] memory actions = _list(
            _aaveLiquidation(aavePool, weth, usdc, aaveBorrower, 5_000e6),
            _v2Swap(v2WethUsdc, weth, usdc, ALL, v2FeeBps) // sell all the seized WETH
        );
        uint256 got = _run("gas: Aave liquidation + V2 sale, own balance", _noLoan(), actions, usdc, 300e6);
        require(ITestToken(usdc).balanceOf(address(executor)) == 5_000e6 + got, "profit not kept");
    }

    function testAaveLiquidationAlone() public {
        _shockEth();
        ITestToken(usdc).mint(address(executor), 5_000e6);
        TallyExecutor.Action[] memory liquidate = _list(_aaveLiquidation(aavePool, weth, usdc, aaveBorrower, 5_000e6));
        // Collateral worth 5,000 / 1,900 ETH plus the 5% bonus less Aave's 10% share of it.
        uint256 got = _run("gas: AaveLiquidation alone, own balance", _noLoan(), liquidate, weth, 2.7 ether);
        require(got < uint256(5_000 ether) * 105 / 100 / 1_900, "more than the bonus");
    }

    function testAaveHealthyBorrowerReverts() public {
        _setEthPrice(ETH_USD);
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 5_000e6);
        (bool ok, bytes memory ret) = address(executor).call(_executeCall(loan, _aaveThenV2(), usdc, 0, 0));
        require(!ok, "liquidated a healthy borrower");
        // Aave's Errors.HEALTH_FACTOR_NOT_BELOW_THRESHOLD, as Error("45")
        require(keccak256(ret) == keccak256(abi.encodeWithSignature("Error(string)", "45")), "not error 45");
    }

    function testAaveUnprofitableReverts() public {
        _shockEth();
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.AaveV3, aavePool, usdc, 5_000e6);
        _expectRevert(_executeCall(loan, _aaveThenV2(), usdc, 5_000e6, 0), TallyExecutor.NotProfitable.selector);
    }

    function testForeignAaveFlashLoanIntoExecutorReverts() public {
        // Aave lends to any receiver and names the initiator: an outsider's loan must be refused.
        vm.prank(address(0xBAD));
        (bool ok, bytes memory ret) =
            aavePool.call(abi.encodeCall(IAaveFlashPool.flashLoanSimple, (address(executor), usdc, 1_000e6, "", 0)));
        require(!ok && _selector(ret) == TallyExecutor.UnexpectedCallback.selector, "foreign loan accepted");
    }

    // -- Venus liquidation ------------------------------------------------------------------------

    function testVenusLiquidationAaveFlash() public {
        // Balancer's vault is nonReentrant: a Balancer swap cannot run inside a Balancer flash loan.
        _shockEth();
        uint256 debt = IVTokenView(vUsdc).borrowBalanceStored(venusBorrower);
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.AaveV3, aavePool, usdc, 5_000e6);
        TallyExecutor.Action[] memory actions = _list(
            _venusLiquidation(vUsdc, usdc, venusBorrower, vWeth, ALL),
            _balancerSwap(vault, balancerWethUsdc, weth, usdc, ALL)
        );
        string memory label = "gas: Venus liquidation + redeem + Balancer sale, Aave flash";
        uint256 got = _run(label, loan, actions, usdc, 300e6);
        require(IVTokenView(vUsdc).borrowBalanceStored(venusBorrower) < debt - 4_900e6, "debt not repaid");
        require(IVTokenView(vWeth).balanceOf(address(executor)) == 0, "seized vTokens not redeemed");
        require(ITestToken(weth).balanceOf(address(executor)) == 0, "collateral not sold");
        require(ITestToken(usdc).balanceOf(address(executor)) == got, "profit not kept");
    }

    function testVenusLiquidationBalancerFlash() public {
        _shockEth();
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 5_000e6);
        string memory label = "gas: Venus liquidation + redeem + V2 sale, Balancer flash";
        uint256 got = _run(label, loan, _venusThenV2(), usdc, 300e6);
        require(IVTokenView(vWeth).balanceOf(address(executor)) == 0, "seized vTokens not redeemed");
        require(ITestToken(usdc).balanceOf(address(executor)) == got, "profit not kept");
    }

    function testVenusLiquidationAlone() public {
        _shockEth();
        ITestToken(usdc).mint(address(executor), 5_000e6);
        TallyExecutor.Action[] memory liquidate = _list(_venusLiquidation(vUsdc, usdc, venusBorrower, vWeth, 5_000e6));
        // Seizes 110% of 5,000 USD in WETH at 1,900 (as vWETH), redeemed for WETH.
        uint256 got = _run("gas: VenusLiquidation + redeem alone, own balance", _noLoan(), liquidate, weth, 2.8 ether);
        require(got <= uint256(5_000 ether) * 110 / 100 / 1_900, "more than the incentive");
        require(ITestToken(usdc).balanceOf(address(executor)) == 0, "repaid less than asked");
    }

    function testVenusErrorCodeReverts() public {
        // Healthy borrower: Venus returns COMPTROLLER_REJECTION instead of reverting; we must revert.
        _setEthPrice(ETH_USD);
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 5_000e6);
        _expectRevert(_executeCall(loan, _venusThenV2(), usdc, 0, 0), TallyExecutor.VenusError.selector);
    }

    // -- helpers ----------------------------------------------------------------------------------

    function _aaveThenV2() internal view returns (TallyExecutor.Action[] memory) {
        return _list(
            _aaveLiquidation(aavePool, weth, usdc, aaveBorrower, ALL), // repay with all the USDC we hold
            _v2Swap(v2WethUsdc, weth, usdc, ALL, v2FeeBps) // sell all the seized WETH
        );
    }

    function _venusThenV2() internal view returns (TallyExecutor.Action[] memory) {
        return _list(
            _venusLiquidation(vUsdc, usdc, venusBorrower, vWeth, ALL), // repay with all the USDC we hold
            _v2Swap(v2WethUsdc, weth, usdc, ALL, v2FeeBps) // sell the redeemed WETH
        );
    }

    function _shockEth() internal {
        _setEthPrice(SHOCKED_ETH_USD);
    }

    /// Set, not assumed: the devnet may have been moved by whatever ran before the fork was taken.
    function _setEthPrice(int256 usd8) internal {
        vm.prank(deployer);
        ISettableFeed(wethFeed).setAnswer(usd8);
    }

    function _expectAaveRepaid(uint256 covered) internal view {
        uint256 debt = ITestToken(usdcDebtToken).balanceOf(aaveBorrower);
        require(debt < 15_800e6 - covered + 10e6, "debt not repaid"); // + interest since seeding
    }

    function _expectPair(string memory json, string memory key0, string memory key1) internal pure {
        bytes32 a = keccak256(bytes(_str(json, key0)));
        bytes32 b = keccak256(bytes(_str(json, key1)));
        bool wethUsdc =
            (a == keccak256("WETH") && b == keccak256("USDC")) || (a == keccak256("USDC") && b == keccak256("WETH"));
        require(wethUsdc, string.concat("manifest: expected a WETH/USDC pool at ", key0));
    }

    function _addr(string memory json, string memory key) internal pure returns (address) {
        return vm.parseJsonAddress(json, key);
    }

    function _str(string memory json, string memory key) internal pure returns (string memory) {
        return vm.parseJsonString(json, key);
    }
}
