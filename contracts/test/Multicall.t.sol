// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Multicall} from "../src/Multicall.sol";

contract Target {
    uint256 public value = 42;

    function boom() external pure {
        revert("boom");
    }
}

contract MulticallTest {
    Multicall internal mc;
    Target internal target;

    function setUp() public {
        mc = new Multicall();
        target = new Target();
    }

    function testAggregatesReads() public {
        Multicall.Call3[] memory calls = new Multicall.Call3[](2);
        calls[0] = Multicall.Call3(address(target), false, abi.encodeWithSignature("value()"));
        calls[1] = Multicall.Call3(address(mc), false, abi.encodeCall(Multicall.getBlockNumber, ()));
        Multicall.Result[] memory r = mc.aggregate3(calls);
        require(r.length == 2, "length");
        require(abi.decode(r[0].returnData, (uint256)) == 42, "value");
        require(abi.decode(r[1].returnData, (uint256)) == block.number, "block");
    }

    function testAllowedFailureIsReported() public {
        Multicall.Call3[] memory calls = new Multicall.Call3[](1);
        calls[0] = Multicall.Call3(address(target), true, abi.encodeCall(Target.boom, ()));
        Multicall.Result[] memory r = mc.aggregate3(calls);
        require(!r[0].success, "should fail");
    }

    function testStrictFailureReverts() public {
        Multicall.Call3[] memory calls = new Multicall.Call3[](1);
        calls[0] = Multicall.Call3(address(target), false, abi.encodeCall(Target.boom, ()));
        try mc.aggregate3(calls) {
            revert("expected revert");
        } catch (bytes memory reason) {
            require(bytes4(reason) == Multicall.CallFailed.selector, "selector");
        }
    }

    function testFuzzBalance(address who) public view {
        require(mc.getEthBalance(who) == who.balance, "balance");
    }
}
