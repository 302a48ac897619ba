// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TallyExecutor} from "../../src/TallyExecutor.sol";
import {Vm, vm} from "./Vm.sol";

/// @notice Builders for executor actions and loans, revert and gas helpers shared by the executor tests.
abstract contract ExecutorTestBase {
    /// forge prints these in its "Logs" section (ds-test style events), e.g. with `forge test -vv`.
    event log_named_uint(string key, uint256 val);

    uint256 internal constant ALL = 0; // Action.amountIn: the executor's whole tokenIn balance

    TallyExecutor internal executor;

    // -- deployment from published artifacts -------------------------------------------------------

    function _create(bytes memory initCode) internal returns (address deployed) {
        assembly {
            deployed := create(0, add(initCode, 0x20), mload(initCode))
        }
        require(deployed != address(0), "deploy failed");
    }

    /// Hardhat artifacts load with getCode; waffle ones (Uniswap V2, WETH9) carry `bytecode` twice,
    /// which getCode refuses, so read their hex by hand.
    function _waffleCode(string memory path) internal view returns (bytes memory) {
        string memory json = vm.readFile(path);
        return vm.parseBytes(vm.parseJsonString(json, ".bytecode"));
    }

    // -- plan builders -----------------------------------------------------------------------------

    function _noLoan() internal pure returns (TallyExecutor.Loan memory) {
        return TallyExecutor.Loan(TallyExecutor.Source.None, address(0), address(0), 0);
    }

    function _loan(TallyExecutor.Source source, address lender, address token, uint256 amount)
        internal
        pure
        returns (TallyExecutor.Loan memory)
    {
        return TallyExecutor.Loan(source, lender, token, amount);
    }

    function _v2Swap(address pair, address tokenIn, address tokenOut, uint256 amountIn, uint256 feeBps)
        internal
        pure
        returns (TallyExecutor.Action memory)
    {
        return TallyExecutor.Action(
            TallyExecutor.Kind.UniswapV2Swap, pair, tokenIn, amountIn, abi.encode(tokenOut, feeBps)
        );
    }

    function _v3Swap(address pool, address tokenIn, address tokenOut, uint256 amountIn)
        internal
        pure
        returns (TallyExecutor.Action memory)
    {
        return TallyExecutor.Action(
            TallyExecutor.Kind.UniswapV3Swap, pool, tokenIn, amountIn, abi.encode(tokenOut, uint160(0))
        );
    }

    function _balancerSwap(address vault, bytes32 poolId, address tokenIn, address tokenOut, uint256 amountIn)
        internal
        pure
        returns (TallyExecutor.Action memory)
    {
        return TallyExecutor.Action(
            TallyExecutor.Kind.BalancerSwap, vault, tokenIn, amountIn, abi.encode(poolId, tokenOut)
        );
    }

    function _aaveLiquidation(address pool, address collateral, address debt, address user, uint256 debtToCover)
        internal
        pure
        returns (TallyExecutor.Action memory)
    {
        return
            TallyExecutor.Action(
                TallyExecutor.Kind.AaveLiquidation, pool, debt, debtToCover, abi.encode(collateral, user)
            );
    }

    function _venusLiquidation(
        address vDebt,
        address underlying,
        address borrower,
        address vCollateral,
        uint256 repayAmount
    ) internal pure returns (TallyExecutor.Action memory) {
        return TallyExecutor.Action(
            TallyExecutor.Kind.VenusLiquidation, vDebt, underlying, repayAmount, abi.encode(borrower, vCollateral)
        );
    }

    /// Through Venus's Liquidator contract (a third word in data), as BNB Chain's core pool requires.
    function _venusLiquidationVia(
        address liquidator,
        address vDebt,
        address underlying,
        address borrower,
        address vCollateral,
        uint256 repayAmount
    ) internal pure returns (TallyExecutor.Action memory) {
        return TallyExecutor.Action(
            TallyExecutor.Kind.VenusLiquidation,
            vDebt,
            underlying,
            repayAmount,
            abi.encode(borrower, vCollateral, liquidator)
        );
    }

    function _list(TallyExecutor.Action memory a) internal pure returns (TallyExecutor.Action[] memory list) {
        list = new TallyExecutor.Action[](1);
        list[0] = a;
    }

    function _list(TallyExecutor.Action memory a, TallyExecutor.Action memory b)
        internal
        pure
        returns (TallyExecutor.Action[] memory list)
    {
        list = new TallyExecutor.Action[](2);
        list[0] = a;
        list[1] = b;
    }

    // -- running -----------------------------------------------------------------------------------

    /// Every contract a measured run touches; cooled before it so access costs are a real transaction's.
    address[] internal touched;

    /// execute() as the owner, logging what it would cost as a transaction under `label`: 21,000 +
    /// calldata + execution (every account and slot cold, as in a fresh transaction) - capped refund.
    function _run(
        string memory label,
        TallyExecutor.Loan memory loan,
        TallyExecutor.Action[] memory actions,
        address profitToken,
        uint256 minProfit
    ) internal returns (uint256 profit) {
        return _runWithTip(label, loan, actions, profitToken, minProfit, 0);
    }

    function _runWithTip(
        string memory label,
        TallyExecutor.Loan memory loan,
        TallyExecutor.Action[] memory actions,
        address profitToken,
        uint256 minProfit,
        uint256 tipBps
    ) internal returns (uint256 profit) {
        bytes memory call = _executeCall(loan, actions, profitToken, minProfit, tipBps);
        vm.cool(address(executor));
        for (uint256 i; i < touched.length; ++i) {
            vm.cool(touched[i]);
        }
        (bool ok, bytes memory ret) = address(executor).call(call);
        if (!ok) {
            assembly {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        emit log_named_uint(label, _txGas(call, vm.lastCallGas()));
        return abi.decode(ret, (uint256));
    }

    function _txGas(bytes memory call, Vm.Gas memory g) internal pure returns (uint256) {
        uint256 gas = 21_000 + g.gasTotalUsed;
        for (uint256 i; i < call.length; ++i) {
            gas += call[i] == 0 ? 4 : 16;
        }
        uint256 refund = g.gasRefunded > 0 ? uint256(uint64(g.gasRefunded)) : 0;
        return gas - (refund < gas / 5 ? refund : gas / 5); // EIP-3529 cap
    }

    /// Call the executor (as this contract) and require a revert whose data starts with `selector`.
    function _expectRevert(bytes memory callData, bytes4 selector) internal {
        (bool ok, bytes memory ret) = address(executor).call(callData);
        require(!ok, "call did not revert");
        require(_selector(ret) == selector, "reverted with another error");
    }

    /// The error selector at the head of revert data (zero when there is none).
    function _selector(bytes memory ret) internal pure returns (bytes4 selector) {
        if (ret.length >= 4) {
            assembly {
                selector := and(mload(add(ret, 0x20)), shl(224, 0xffffffff))
            }
        }
    }

    function _executeCall(
        TallyExecutor.Loan memory loan,
        TallyExecutor.Action[] memory actions,
        address profitToken,
        uint256 minProfit,
        uint256 tipBps
    ) internal pure returns (bytes memory) {
        return abi.encodeCall(TallyExecutor.execute, (loan, actions, profitToken, minProfit, tipBps));
    }
}
