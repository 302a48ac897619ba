// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TallyExecutor} from "../src/TallyExecutor.sol";
import {TallyExecutorTest} from "./TallyExecutor.t.sol";
import {Vm, vm} from "./utils/Vm.sol";

/// @notice Guarded parts: several independent routes in one transaction, one loan, where a part that
///         reverts unwinds only itself. Same market as TallyExecutorTest (its setUp and helpers; forge
///         runs its tests here once more, which costs a few seconds).
contract TallyExecutorGuardedTest is TallyExecutorTest {
    function testAPartThatRevertsUnwindsAloneAndTheOtherKeepsItsProfit() public {
        // Part 0 buys WETH on pairCheap, then tries to sell 100 WETH it does not have: reverts.
        // Part 1 is the plain cheap -> dear round trip. Quoted on the state before anything ran:
        // equal to the wei only if part 0's first swap was undone.
        uint256 expected = _v2RoundTrip(20_000e6);
        TallyExecutor.Action[] memory failing =
            _list(_v2Swap(pairCheap, usdc, weth, 10_000e6, 30), _v2Swap(pairDear, weth, usdc, 100 ether, 30));
        TallyExecutor.Action[] memory good =
            _list(_v2Swap(pairCheap, usdc, weth, 20_000e6, 30), _v2Swap(pairDear, weth, usdc, ALL, 30));
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 30_000e6);
        uint256 vaultUsdc = _balance(usdc, vault);
        uint256 got = executor.execute(loan, _list(_guard(failing), _guard(good)), usdc, expected, 0);
        require(got == expected, "the good part's profit, to the wei");
        require(_balance(usdc, vault) == vaultUsdc, "vault repaid from the failed part's unspent share");
        require(_balance(usdc, address(executor)) == expected, "profit kept");
        require(_balance(weth, address(executor)) == 0, "the failed part's WETH stayed");
    }

    function testAPartsRevertIsLoggedWithItsIndex() public {
        TallyExecutor.Action[] memory failing = _list(_v2Swap(pairDear, weth, usdc, 100 ether, 30));
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 20_000e6);
        vm.recordLogs();
        executor.execute(loan, _list(_guard(_cheapToDear()), _guard(failing)), usdc, 1, 0);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes32 topic = keccak256("GuardedFailed(uint256)");
        uint256 seen;
        uint256 index;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter == address(executor) && logs[i].topics[0] == topic) {
                ++seen;
                index = abi.decode(logs[i].data, (uint256));
            }
        }
        require(seen == 1 && index == 1, "one GuardedFailed(1)");
    }

    function testEveryPartFailingLeavesNoProfitAndTheCheckReverts() public {
        TallyExecutor.Action[] memory failing = _list(_v2Swap(pairDear, weth, usdc, 100 ether, 30));
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 20_000e6);
        bytes memory call = _executeCall(loan, _list(_guard(failing), _guard(failing)), usdc, 1, 0);
        _expectRevert(call, TallyExecutor.NotProfitable.selector);
    }

    function testInsideTheSelfCallAllIsWhatTheExecutionBroughtInAndCallbacksAreChecked() public {
        // Inventory on the route (USDC and WETH); the part spends ALL of both and pays a V3 pool
        // in uniswapV3SwapCallback, which the transient guard must accept inside the self-call.
        _fund(usdc, address(executor), 5_000e6);
        _fund(weth, address(executor), 2 ether);
        TallyExecutor.Action[] memory part =
            _list(_v2Swap(pairCheap, usdc, weth, ALL, 30), _v3Swap(v3Dear, weth, usdc, ALL));
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 20_000e6);
        uint256 got = executor.execute(loan, _list(_guard(part)), usdc, 300e6, 0);
        require(_balance(weth, address(executor)) == 2 ether, "ALL spent WETH held before");
        require(_balance(usdc, address(executor)) == 5_000e6 + got, "ALL spent USDC held before");
    }

    function testRunGuardedOnlyFromItself() public {
        _fund(weth, address(executor), 1 ether);
        TallyExecutor.Action[] memory swap = _list(_v2Swap(pairCheap, weth, usdc, 1 ether, 30));
        bytes memory call = abi.encodeCall(TallyExecutor.runGuarded, (swap));
        _expectRevert(call, TallyExecutor.Unauthorized.selector); // the owner
        vm.prank(OUTSIDER);
        (bool ok,) = address(executor).call(call);
        require(!ok, "an outsider ran actions");
        require(_balance(weth, address(executor)) == 1 ether, "inventory moved");
    }

    // -- gas: two routes as two transactions, and as one ------------------------------------------

    function testGasTwoRoutesSeparately() public {
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 10_000e6);
        uint256 a = _run("gas: separate 1/2, V2->V2, Balancer flash", loan, _routeA(), usdc, 1);
        uint256 b = _run("gas: separate 2/2, V2->V3, Balancer flash", loan, _routeB(), usdc, 1);
        emit log_named_uint("profit: separate", a + b);
    }

    function testGasTwoRoutesBatched() public {
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 20_000e6);
        TallyExecutor.Action[] memory parts = _list(_guard(_routeA()), _guard(_routeB()));
        uint256 got = _run("gas: batched, 2 Guarded parts, one Balancer flash", loan, parts, usdc, 1);
        emit log_named_uint("profit: batched", got);
    }

    function testGasTwoRoutesBatchedUnguarded() public {
        TallyExecutor.Loan memory loan = _loan(TallyExecutor.Source.Balancer, vault, usdc, 20_000e6);
        TallyExecutor.Action[] memory a = _routeA();
        TallyExecutor.Action[] memory b = _routeB();
        TallyExecutor.Action[] memory flat = new TallyExecutor.Action[](4);
        (flat[0], flat[1], flat[2], flat[3]) = (a[0], a[1], b[0], b[1]);
        _run("gas: batched, 4 plain actions, one Balancer flash", loan, flat, usdc, 1);
    }

    // -- helpers ----------------------------------------------------------------------------------

    function _routeA() internal view returns (TallyExecutor.Action[] memory) {
        return _list(_v2Swap(pairCheap, usdc, weth, 10_000e6, 30), _v2Swap(pairDear, weth, usdc, ALL, 30));
    }

    /// Sells what it bought on pairCheap; in a batch it runs after route A, on the moved pair.
    function _routeB() internal view returns (TallyExecutor.Action[] memory) {
        return _list(_v2Swap(pairCheap, usdc, weth, 10_000e6, 30), _v3Swap(v3Dear, weth, usdc, ALL));
    }

    function _guard(TallyExecutor.Action[] memory inner) internal pure returns (TallyExecutor.Action memory) {
        return TallyExecutor.Action(TallyExecutor.Kind.Guarded, address(0), address(0), 0, abi.encode(inner));
    }
}
