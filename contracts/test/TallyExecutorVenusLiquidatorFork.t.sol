// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TallyExecutor} from "../src/TallyExecutor.sol";
import {ExecutorTestBase} from "./utils/ExecutorTestBase.sol";
import {ISettableFeed, ITestToken} from "./utils/Protocols.sol";
import {vm} from "./utils/Vm.sol";

interface IVenusComptroller {
    function _setLiquidatorContract(address newLiquidatorContract) external;
    function liquidatorContract() external view returns (address);
    function getEffectiveLiquidationIncentive(address borrower, address vToken) external view returns (uint256);
}

interface IVenusMarket {
    function balanceOf(address account) external view returns (uint256);
    function borrowBalanceStored(address account) external view returns (uint256);
    function exchangeRateStored() external view returns (uint256);
    function accrueInterest() external returns (uint256);
}

/// @notice Venus liquidations with the comptroller's liquidatorContract set, as on BNB Chain: the executor's
///         VenusLiquidation action through Venus's Liquidator (real bytecode, deployed by the devnet but not
///         set there), and the direct vToken path the comptroller then refuses. A fork of the running devnet,
///         like TallyExecutorFork.t.sol: skipped without $TALLYIO_DEVNET_MANIFEST_JSON;
///         tests/integration/test_venus_liquidator.py runs it against the session devnet.
contract TallyExecutorVenusLiquidatorForkTest is ExecutorTestBase {
    int256 internal constant SHOCKED_ETH_USD = 1_900e8; // tips venus borrower 0 (10 WETH vs 15,900 USDC)
    uint256 internal constant REPAY = 5_000e6;
    // Venus TokenErrorReporter.COMPTROLLER_REJECTION: liquidateBorrowAllowed said UNAUTHORIZED.
    uint256 internal constant COMPTROLLER_REJECTION = 3;

    address internal deployer;
    address internal weth;
    address internal usdc;
    address internal vUsdc;
    address internal vWeth;
    address internal comptroller;
    address internal liquidator;
    address internal shareReserve;
    uint256 internal treasuryPercent;
    address internal borrower;
    address internal v2WethUsdc;
    uint256 internal v2FeeBps;
    address internal vault;

    function setUp() public {
        string memory json = vm.envOr("TALLYIO_DEVNET_MANIFEST_JSON", string(""));
        if (bytes(json).length == 0) vm.skip(true); // no devnet: nothing to fork
        vm.createSelectFork(vm.parseJsonString(json, ".rpc_url"));
        vm.warp(block.timestamp + 12);
        vm.roll(block.number + 1);
        deployer = vm.parseJsonAddress(json, ".accounts.deployer.address");
        weth = vm.parseJsonAddress(json, ".tokens.WETH");
        usdc = vm.parseJsonAddress(json, ".tokens.USDC");
        vUsdc = vm.parseJsonAddress(json, ".venus.vtokens.USDC");
        vWeth = vm.parseJsonAddress(json, ".venus.vtokens.WETH");
        comptroller = vm.parseJsonAddress(json, ".venus.comptroller");
        liquidator = vm.parseJsonAddress(json, ".venus.liquidator");
        shareReserve = vm.parseJsonAddress(json, ".venus.protocol_share_reserve");
        treasuryPercent = vm.parseJsonUint(json, ".venus.liquidator_treasury_percent");
        borrower = vm.parseJsonAddress(json, ".borrowers.venus[0]");
        v2WethUsdc = vm.parseJsonAddress(json, ".uniswap_v2[0].pairs[0].address");
        v2FeeBps = vm.parseJsonUint(json, ".uniswap_v2[0].fee_bps");
        vault = vm.parseJsonAddress(json, ".balancer_v2.vault");
        executor = new TallyExecutor(address(this), weth);
        touched = [weth, usdc, vUsdc, vWeth, comptroller, liquidator, shareReserve, v2WethUsdc, vault];
        vm.prank(deployer); // the comptroller's admin
        IVenusComptroller(comptroller)._setLiquidatorContract(liquidator);
        vm.prank(deployer);
        ISettableFeed(vm.parseJsonAddress(json, ".price_feeds.WETH")).setAnswer(SHOCKED_ETH_USD);
    }

    function testLiquidationThroughTheLiquidatorSplitsTheSeizure() public {
        ITestToken(usdc).mint(address(executor), REPAY);
        IVenusMarket(vWeth).accrueInterest(); // the rate the seizure and both redeems see
        uint256 rate = IVenusMarket(vWeth).exchangeRateStored();
        uint256 borrowerBefore = IVenusMarket(vWeth).balanceOf(borrower);
        uint256 reserveBefore = ITestToken(weth).balanceOf(shareReserve);
        TallyExecutor.Action[] memory actions =
            _list(_venusLiquidationVia(liquidator, vUsdc, usdc, borrower, vWeth, REPAY));
        uint256 got = _run("gas: VenusLiquidation via Liquidator + redeem, own balance", _noLoan(), actions, weth, 0);

        // Liquidator._splitLiquidationIncentive: the treasury's cut is a share of the bonus only.
        uint256 seized = borrowerBefore - IVenusMarket(vWeth).balanceOf(borrower);
        uint256 incentive = IVenusComptroller(comptroller).getEffectiveLiquidationIncentive(borrower, vWeth);
        uint256 ours = seized * (incentive - 1e18) / incentive * treasuryPercent / 1e18;
        require(ours > 0, "no treasury cut");
        // The Liquidator redeems its cut first (at `rate`) and sends the underlying to the share reserve.
        require(ITestToken(weth).balanceOf(shareReserve) - reserveBefore == ours * rate / 1e18, "treasury cut");
        uint256 theirs = (seized - ours) * rate / 1e18; // our redeem; the rate may tick up by rounding
        require(got >= theirs && got <= theirs + 1, "liquidator's share");
        require(ITestToken(usdc).balanceOf(address(executor)) == 0, "repaid less than asked");
        require(IVenusMarket(vWeth).balanceOf(address(executor)) == 0, "vTokens left unredeemed");
        require(IVenusMarket(vWeth).balanceOf(liquidator) == 0, "Liquidator kept vTokens");
    }

    function testFlashLiquidationThroughTheLiquidatorThenSale() public {
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, REPAY);
        TallyExecutor.Action[] memory actions = _list(
            _venusLiquidationVia(liquidator, vUsdc, usdc, borrower, vWeth, ALL), // all the loan
            _v2Swap(v2WethUsdc, weth, usdc, ALL, v2FeeBps)
        );
        uint256 debt = IVenusMarket(vUsdc).borrowBalanceStored(borrower);
        uint256 got = _run("gas: Venus via Liquidator + redeem + V2 sale, Balancer flash", loan, actions, usdc, 100e6);
        require(IVenusMarket(vUsdc).borrowBalanceStored(borrower) < debt - REPAY + 10e6, "debt not repaid");
        require(ITestToken(usdc).balanceOf(address(executor)) == got, "profit not kept");
    }

    function testDirectPathIsRefusedOnceTheLiquidatorIsSet() public {
        require(IVenusComptroller(comptroller).liquidatorContract() == liquidator, "liquidator not set");
        ITestToken(usdc).mint(address(executor), REPAY);
        TallyExecutor.Action[] memory actions = _list(_venusLiquidation(vUsdc, usdc, borrower, vWeth, REPAY));
        (bool ok, bytes memory ret) = address(executor).call(_executeCall(_noLoan(), actions, weth, 0, 0));
        require(!ok, "direct liquidation went through");
        bytes memory expected = abi.encodeWithSelector(TallyExecutor.VenusError.selector, COMPTROLLER_REJECTION);
        require(keccak256(ret) == keccak256(expected), "not VenusError(COMPTROLLER_REJECTION)");
    }
}
