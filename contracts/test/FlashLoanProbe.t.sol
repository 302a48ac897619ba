// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {FlashLoanProbe} from "../src/devnet/FlashLoanProbe.sol";

contract PlainToken {
    mapping(address => uint256) public balanceOf;

    function mint(address to, uint256 amount) external {
        balanceOf[to] += amount;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        balanceOf[msg.sender] -= amount;
        balanceOf[to] += amount;
        return true;
    }
}

/// @dev Lends like Balancer's vault in one line each: send, call back, demand amount + fee.
///      The real vault is exercised by the pytest integration test on the devnet.
contract TinyLender {
    uint256 public constant FEE = 7;

    function flashLoan(address recipient, address[] calldata tokens, uint256[] calldata amounts, bytes calldata data)
        external
    {
        uint256[] memory fees = new uint256[](tokens.length);
        uint256[] memory pre = new uint256[](tokens.length);
        for (uint256 i = 0; i < tokens.length; i++) {
            fees[i] = FEE;
            pre[i] = PlainToken(tokens[i]).balanceOf(address(this));
            require(PlainToken(tokens[i]).transfer(recipient, amounts[i]), "send");
        }
        FlashLoanProbe(recipient).receiveFlashLoan(tokens, amounts, fees, data);
        for (uint256 i = 0; i < tokens.length; i++) {
            require(PlainToken(tokens[i]).balanceOf(address(this)) >= pre[i] + FEE, "not repaid");
        }
    }
}

contract Stranger {
    function borrow(FlashLoanProbe probe, address vault, address[] calldata tokens, uint256[] calldata amounts)
        external
    {
        probe.borrow(vault, tokens, amounts);
    }
}

contract FlashLoanProbeTest {
    FlashLoanProbe probe;
    TinyLender lender;
    PlainToken token;

    function setUp() public {
        probe = new FlashLoanProbe();
        lender = new TinyLender();
        token = new PlainToken();
        token.mint(address(lender), 1_000);
        token.mint(address(probe), lender.FEE());
    }

    function _one(uint256 amount) internal view returns (address[] memory tokens, uint256[] memory amounts) {
        tokens = new address[](1);
        amounts = new uint256[](1);
        tokens[0] = address(token);
        amounts[0] = amount;
    }

    function testBorrowRecordsAndRepays() public {
        (address[] memory tokens, uint256[] memory amounts) = _one(400);
        probe.borrow(address(lender), tokens, amounts);
        (address[] memory got, uint256[] memory amts, uint256[] memory fees) = probe.lastLoan();
        require(got.length == 1 && got[0] == address(token), "tokens");
        require(amts[0] == 400 && fees[0] == lender.FEE(), "amounts");
        require(probe.loans() == 1, "loan count");
        require(token.balanceOf(address(lender)) == 1_000 + lender.FEE(), "lender repaid");
        require(token.balanceOf(address(probe)) == 0, "probe paid the fee");
    }

    function testNoRepayReverts() public {
        probe.setRepay(false);
        (address[] memory tokens, uint256[] memory amounts) = _one(400);
        try probe.borrow(address(lender), tokens, amounts) {
            revert("unpaid loan went through");
        } catch {}
    }

    function testRejectsDirectCallback() public {
        (address[] memory tokens, uint256[] memory amounts) = _one(400);
        uint256[] memory fees = new uint256[](1);
        try probe.receiveFlashLoan(tokens, amounts, fees, abi.encode(new uint256[](1))) {
            revert("callback outside a borrow accepted");
        } catch {}
    }

    function testOnlyOwnerBorrows() public {
        Stranger s = new Stranger();
        (address[] memory tokens, uint256[] memory amounts) = _one(400);
        try s.borrow(probe, address(lender), tokens, amounts) {
            revert("stranger borrowed");
        } catch {}
    }
}
