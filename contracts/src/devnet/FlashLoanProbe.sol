// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IProbeERC20 {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
}

/// @notice The one Balancer V2 Vault entry point the probe uses.
interface IBalancerVaultFlashLoan {
    function flashLoan(
        address recipient,
        address[] calldata tokens,
        uint256[] calldata amounts,
        bytes calldata userData
    ) external;
}

/// @title FlashLoanProbe
/// @notice Devnet-only Balancer V2 flash-loan recipient that tests drive on purpose:
///         borrows, checks the tokens arrived, records amounts and fees, and repays
///         amount + fee (the fee must already sit in the probe) unless told not to.
contract FlashLoanProbe {
    event LoanReceived(address indexed token, uint256 amount, uint256 fee);

    address public immutable owner;
    bool public repay = true;
    uint256 public loans;

    // The vault of the borrow in flight: only it may call back, and only during a borrow.
    address private _lender;
    address[] private _tokens;
    uint256[] private _amounts;
    uint256[] private _fees;

    constructor() {
        owner = msg.sender;
    }

    function setRepay(bool repay_) external {
        require(msg.sender == owner, "only owner");
        repay = repay_;
    }

    /// @notice Flash-borrow `amounts` of `tokens` (sorted, as the vault requires) from `vault`.
    function borrow(address vault, address[] calldata tokens, uint256[] calldata amounts) external {
        require(msg.sender == owner, "only owner");
        require(tokens.length == amounts.length, "length mismatch");
        // Balances before the loan travel in userData so the callback can check arrival.
        uint256[] memory before = new uint256[](tokens.length);
        for (uint256 i = 0; i < tokens.length; i++) {
            before[i] = IProbeERC20(tokens[i]).balanceOf(address(this));
        }
        _lender = vault;
        IBalancerVaultFlashLoan(vault).flashLoan(address(this), tokens, amounts, abi.encode(before));
        _lender = address(0);
    }

    /// @notice Balancer's IFlashLoanRecipient callback.
    function receiveFlashLoan(
        address[] calldata tokens,
        uint256[] calldata amounts,
        uint256[] calldata feeAmounts,
        bytes calldata userData
    ) external {
        require(_lender != address(0) && msg.sender == _lender, "only vault");
        uint256[] memory before = abi.decode(userData, (uint256[]));
        require(before.length == tokens.length, "token count");
        delete _tokens;
        delete _amounts;
        delete _fees;
        for (uint256 i = 0; i < tokens.length; i++) {
            IProbeERC20 token = IProbeERC20(tokens[i]);
            require(token.balanceOf(address(this)) >= before[i] + amounts[i], "loan not received");
            _tokens.push(tokens[i]);
            _amounts.push(amounts[i]);
            _fees.push(feeAmounts[i]);
            emit LoanReceived(tokens[i], amounts[i], feeAmounts[i]);
            if (repay) {
                require(token.transfer(msg.sender, amounts[i] + feeAmounts[i]), "repay failed");
            }
        }
        loans += 1;
    }

    /// @notice The tokens, amounts and fees of the last loan received.
    function lastLoan()
        external
        view
        returns (address[] memory tokens, uint256[] memory amounts, uint256[] memory fees)
    {
        return (_tokens, _amounts, _fees);
    }
}
