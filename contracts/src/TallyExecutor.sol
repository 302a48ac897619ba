// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAaveV3Pool} from "./interfaces/IAaveV3Pool.sol";
import {IBalancerVault} from "./interfaces/IBalancerVault.sol";
import {IERC20, IWETH} from "./interfaces/IERC20.sol";
import {IUniswapV2Pair} from "./interfaces/IUniswapV2Pair.sol";
import {IUniswapV3Pool} from "./interfaces/IUniswapV3Pool.sol";
import {IVToken} from "./interfaces/IVToken.sol";
import {IVenusLiquidator} from "./interfaces/IVenusLiquidator.sol";
import {SafeTransfer} from "./lib/SafeTransfer.sol";

/// @title TallyExecutor
/// @notice Owner-only executor: optionally flash-borrows one token (Balancer V2, Uniswap V3 or Aave V3),
///         runs a list of swaps and liquidations, repays, and reverts unless the profit token grew by at
///         least `minProfit`. Holds nothing between transactions except what the owner has not withdrawn.
/// @dev    Action.data per kind (all abi.encode'd):
///           UniswapV2Swap    (address tokenOut, uint256 feeBps)        target = pair
///           UniswapV3Swap    (address tokenOut, uint160 sqrtPriceLimitX96; 0 = none)  target = pool
///           BalancerSwap     (bytes32 poolId, address tokenOut)        target = vault
///           AaveLiquidation  (address collateralAsset, address user)   target = pool, tokenIn = debt asset
///           VenusLiquidation (address borrower, address vTokenCollateral[, address liquidator])
///                            target = debt vToken, tokenIn = its underlying; with a liquidator (Venus's
///                            Liquidator contract) the repay goes through it, else straight to the vToken
///           Guarded          (Action[] inner)  target, tokenIn, amountIn unused: the inner actions run in a
///                            self-call (`runGuarded`) whose failure reverts only them (see `_guarded`)
///         amountIn == 0 means "all of tokenIn this execution has brought in so far" (the executor's
///         balance less what it held when `execute` began), so chained steps need no exact amounts and
///         never spend inventory or profits kept from earlier runs.
contract TallyExecutor {
    using SafeTransfer for address;

    enum Source {
        None, // run on the executor's own balance
        Balancer, // vault.flashLoan -> receiveFlashLoan, no fee
        UniswapV3, // pool.flash -> uniswapV3FlashCallback, pool fee
        AaveV3 // pool.flashLoanSimple -> executeOperation, premium pulled by transferFrom
    }

    enum Kind {
        UniswapV2Swap,
        UniswapV3Swap,
        BalancerSwap,
        AaveLiquidation,
        VenusLiquidation,
        Guarded
    }

    struct Loan {
        Source source;
        address lender; // vault, V3 pool or Aave pool
        address token;
        uint256 amount;
    }

    struct Action {
        Kind kind;
        address target;
        address tokenIn;
        uint256 amountIn; // 0 = all this execution has brought in of tokenIn
        bytes data;
    }

    // TickMath bounds (exclusive): the "no limit" price limits for a V3 swap.
    uint160 private constant MIN_SQRT_RATIO = 4295128739;
    uint160 private constant MAX_SQRT_RATIO = 1461446703485210103287273052546588629047128342;

    address public immutable owner;
    address public immutable weth;

    /// The contract we just called and whose callback we await; zero otherwise. Lenders call any
    /// recipient back (Balancer, Aave), so a callback is trusted only while this matches its sender.
    address private transient expectedCaller;

    error Unauthorized();
    error UnexpectedCallback();
    error NotProfitable(int256 gained, uint256 minProfit);
    error BadTip();
    error VenusError(uint256 code);
    error NativeTransferFailed();

    /// A Guarded part (index in its action list) reverted; its effects are undone, the rest goes on.
    event GuardedFailed(uint256 index);

    constructor(address owner_, address weth_) {
        owner = owner_;
        weth = weth_;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert Unauthorized();
        _;
    }

    /// Only WETH.withdraw sends ETH here (for the tip); stray ETH would be a mistake.
    receive() external payable {
        if (msg.sender != weth) revert Unauthorized();
    }

    // -- entry points ------------------------------------------------------------------------------

    /// @notice Borrow per `loan`, run `actions`, repay; revert unless the `profitToken` balance grew by
    ///         `minProfit` after the loan and the tip. `tipBps` of the gain goes to block.coinbase in ETH
    ///         (profit token must then be WETH). Returns the profit kept.
    function execute(
        Loan calldata loan,
        Action[] calldata actions,
        address profitToken,
        uint256 minProfit,
        uint256 tipBps
    ) external onlyOwner returns (uint256 profit) {
        if (tipBps > 10_000 || (tipBps != 0 && profitToken != weth)) revert BadTip();
        uint256 before = IERC20(profitToken).balanceOf(address(this));
        _snapshotHeld(actions);
        if (loan.source == Source.None) _run(actions);
        else _borrow(loan, actions);
        // Every lender has been repaid by now (Aave pulls right after executeOperation returns).
        uint256 balance = IERC20(profitToken).balanceOf(address(this));
        uint256 gained = balance > before ? balance - before : 0;
        uint256 tip = gained * tipBps / 10_000;
        profit = gained - tip;
        if (balance < before || profit < minProfit) {
            // forge-lint: disable-next-line(unsafe-typecast) token balances stay far below 2**255
            revert NotProfitable(int256(balance) - int256(before), minProfit);
        }
        if (tip != 0) {
            IWETH(weth).withdraw(tip);
            (bool ok,) = block.coinbase.call{value: tip}("");
            if (!ok) revert NativeTransferFailed();
        }
    }

    /// @notice Send `amount` of `token` (address(0) = ETH) to the owner.
    function withdraw(address token, uint256 amount) external onlyOwner {
        if (token == address(0)) {
            (bool ok,) = owner.call{value: amount}("");
            if (!ok) revert NativeTransferFailed();
        } else {
            token.safeTransfer(owner, amount);
        }
    }

    /// @notice The inner actions of a Guarded action, run by the executor on itself only (anyone
    ///         else: Unauthorized), so that a revert inside unwinds this part and nothing else.
    function runGuarded(Action[] calldata inner) external {
        if (msg.sender != address(this)) revert Unauthorized();
        _run(inner);
    }

    // -- flash-loan callbacks ----------------------------------------------------------------------

    /// Balancer V2: the vault checks its balance once we return, so repay by transfer.
    function receiveFlashLoan(
        address[] calldata tokens,
        uint256[] calldata amounts,
        uint256[] calldata feeAmounts,
        bytes calldata data
    ) external {
        _acceptCallback();
        _run(abi.decode(data, (Action[])));
        tokens[0].safeTransfer(msg.sender, amounts[0] + feeAmounts[0]);
    }

    /// Uniswap V3 flash: only the borrowed side carries a fee, so amount + fee0 + fee1 is the debt.
    function uniswapV3FlashCallback(uint256 fee0, uint256 fee1, bytes calldata data) external {
        _acceptCallback();
        (address token, uint256 amount, Action[] memory actions) = abi.decode(data, (address, uint256, Action[]));
        _run(actions);
        token.safeTransfer(msg.sender, amount + fee0 + fee1);
    }

    /// Aave V3 flashLoanSimple: the pool pulls amount + premium with transferFrom after we return.
    function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata data)
        external
        returns (bool)
    {
        _acceptCallback();
        if (initiator != address(this)) revert UnexpectedCallback();
        _run(abi.decode(data, (Action[])));
        _approve(asset, msg.sender, amount + premium);
        return true;
    }

    /// Uniswap V3 swap: pay the pool the input it asks for (the positive delta).
    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata data) external {
        _acceptCallback();
        address tokenIn = abi.decode(data, (address));
        // forge-lint: disable-next-line(unsafe-typecast) the chosen delta is positive
        tokenIn.safeTransfer(msg.sender, uint256(amount0Delta > 0 ? amount0Delta : amount1Delta));
    }

    // -- internals ---------------------------------------------------------------------------------

    function _borrow(Loan calldata loan, Action[] calldata actions) private {
        expectedCaller = loan.lender;
        if (loan.source == Source.Balancer) {
            address[] memory tokens = new address[](1);
            uint256[] memory amounts = new uint256[](1);
            tokens[0] = loan.token;
            amounts[0] = loan.amount;
            IBalancerVault(loan.lender).flashLoan(address(this), tokens, amounts, abi.encode(actions));
        } else if (loan.source == Source.UniswapV3) {
            // token0 is an immutable of the pool: cheap, and it warms the pool for the flash call.
            bool isToken0 = IUniswapV3Pool(loan.lender).token0() == loan.token;
            (uint256 amount0, uint256 amount1) = isToken0 ? (loan.amount, uint256(0)) : (uint256(0), loan.amount);
            bytes memory data = abi.encode(loan.token, loan.amount, actions);
            IUniswapV3Pool(loan.lender).flash(address(this), amount0, amount1, data);
        } else {
            IAaveV3Pool(loan.lender).flashLoanSimple(address(this), loan.token, loan.amount, abi.encode(actions), 0);
        }
    }

    /// Remember (in transient storage: gone when the transaction ends) what the executor holds of each
    /// token an "amountIn == 0" step spends, before anything runs.
    /// Guarded parts are looked into: their steps spend "all brought in" by the same rule.
    function _snapshotHeld(Action[] calldata actions) private {
        for (uint256 i; i < actions.length; ++i) {
            if (actions[i].kind == Kind.Guarded) _snapshotInner(abi.decode(actions[i].data, (Action[])));
            else if (actions[i].amountIn == 0) _snapshot(actions[i].tokenIn);
        }
    }

    function _snapshotInner(Action[] memory actions) private {
        for (uint256 i; i < actions.length; ++i) {
            if (actions[i].kind == Kind.Guarded) _snapshotInner(abi.decode(actions[i].data, (Action[])));
            else if (actions[i].amountIn == 0) _snapshot(actions[i].tokenIn);
        }
    }

    function _snapshot(address token) private {
        uint256 held = IERC20(token).balanceOf(address(this));
        bytes32 slot = _heldSlot(token);
        assembly ("memory-safe") {
            tstore(slot, held)
        }
    }

    /// The executor's balance of `token` less what it held when `execute` began (0 if less).
    function _broughtIn(address token) private view returns (uint256) {
        bytes32 slot = _heldSlot(token);
        uint256 held;
        assembly ("memory-safe") {
            held := tload(slot)
        }
        uint256 balance = IERC20(token).balanceOf(address(this));
        return balance > held ? balance - held : 0;
    }

    function _heldSlot(address token) private pure returns (bytes32) {
        return keccak256(abi.encode(token, "TallyExecutor.held"));
    }

    /// One callback per call we make: check its sender and forget it, so it cannot be replayed.
    function _acceptCallback() private {
        if (msg.sender != expectedCaller) revert UnexpectedCallback();
        expectedCaller = address(0);
    }

    function _run(Action[] memory actions) private {
        for (uint256 i; i < actions.length; ++i) {
            Action memory a = actions[i];
            if (a.kind == Kind.Guarded) {
                _guarded(a.data, i);
                continue;
            }
            uint256 amountIn = a.amountIn != 0 ? a.amountIn : _broughtIn(a.tokenIn);
            if (a.kind == Kind.UniswapV2Swap) _swapV2(a, amountIn);
            else if (a.kind == Kind.UniswapV3Swap) _swapV3(a, amountIn);
            else if (a.kind == Kind.BalancerSwap) _swapBalancer(a, amountIn);
            else if (a.kind == Kind.AaveLiquidation) _liquidateAave(a, amountIn);
            else _liquidateVenus(a, amountIn);
        }
    }

    /// `data` is abi.encode(Action[]): exactly runGuarded's arguments, so the self-call sends it as
    /// is (no decode and re-encode). The self-call shares this transaction's transient storage (the
    /// callback guard, the held snapshot) and a revert unwinds its writes with the rest of the part;
    /// what the part had not spent (its share of the loan) stays here and repays the lender.
    function _guarded(bytes memory data, uint256 index) private {
        (bool ok,) = address(this).call(bytes.concat(this.runGuarded.selector, data));
        if (!ok) emit GuardedFailed(index);
    }

    /// Output from the reserves at execution time (UniswapV2Library.getAmountOut with the fee in bps,
    /// so forks with other fees work), not a precomputed amount that a state change would break.
    function _swapV2(Action memory a, uint256 amountIn) private {
        (address tokenOut, uint256 feeBps) = abi.decode(a.data, (address, uint256));
        bool zeroForOne = a.tokenIn < tokenOut; // pairs sort their tokens by address
        (uint256 reserve0, uint256 reserve1,) = IUniswapV2Pair(a.target).getReserves();
        (uint256 reserveIn, uint256 reserveOut) = zeroForOne ? (reserve0, reserve1) : (reserve1, reserve0);
        uint256 inWithFee = amountIn * (10_000 - feeBps);
        uint256 out = inWithFee * reserveOut / (reserveIn * 10_000 + inWithFee);
        a.tokenIn.safeTransfer(a.target, amountIn);
        (uint256 out0, uint256 out1) = zeroForOne ? (uint256(0), out) : (out, uint256(0));
        IUniswapV2Pair(a.target).swap(out0, out1, address(this), "");
    }

    function _swapV3(Action memory a, uint256 amountIn) private {
        (address tokenOut, uint160 limit) = abi.decode(a.data, (address, uint160));
        bool zeroForOne = a.tokenIn < tokenOut;
        if (limit == 0) limit = zeroForOne ? MIN_SQRT_RATIO + 1 : MAX_SQRT_RATIO - 1;
        expectedCaller = a.target;
        // Positive amountSpecified = exact input.
        // forge-lint: disable-next-line(unsafe-typecast) token balances stay far below 2**255
        IUniswapV3Pool(a.target).swap(address(this), zeroForOne, int256(amountIn), limit, abi.encode(a.tokenIn));
    }

    function _swapBalancer(Action memory a, uint256 amountIn) private {
        (bytes32 poolId, address tokenOut) = abi.decode(a.data, (bytes32, address));
        _approve(a.tokenIn, a.target, amountIn);
        IBalancerVault(a.target)
            .swap(
                IBalancerVault.SingleSwap(poolId, IBalancerVault.SwapKind.GIVEN_IN, a.tokenIn, tokenOut, amountIn, ""),
                IBalancerVault.FundManagement(address(this), false, payable(address(this)), false),
                0, // no per-swap minimum: the profit check at the end covers the whole route
                block.timestamp
            );
    }

    /// Repays up to `amountIn` of the debt (Aave caps it by the close factor), takes the collateral itself.
    function _liquidateAave(Action memory a, uint256 amountIn) private {
        (address collateral, address user) = abi.decode(a.data, (address, address));
        _approve(a.tokenIn, a.target, amountIn);
        IAaveV3Pool(a.target).liquidationCall(collateral, a.tokenIn, user, amountIn, false);
    }

    /// Venus reports failure as a non-zero code, not a revert: turn it into a revert. Where the comptroller
    /// names a liquidatorContract (BNB Chain), only it may liquidate: a third word in `data` names it, and it
    /// pulls the repay from us, keeps the treasury's cut of the seized bonus and passes us the rest (it
    /// reverts on failure itself). Either way the seized collateral arrives as vTokens; redeem them all.
    function _liquidateVenus(Action memory a, uint256 amountIn) private {
        (address borrower, address vCollateral) = abi.decode(a.data, (address, address));
        if (a.data.length > 64) {
            (,, address liquidator) = abi.decode(a.data, (address, address, address));
            _approve(a.tokenIn, liquidator, amountIn);
            IVenusLiquidator(liquidator).liquidateBorrow(a.target, borrower, amountIn, vCollateral);
        } else {
            _approve(a.tokenIn, a.target, amountIn);
            _venus(IVToken(a.target).liquidateBorrow(borrower, amountIn, vCollateral));
        }
        _venus(IVToken(vCollateral).redeem(IVToken(vCollateral).balanceOf(address(this))));
    }

    function _venus(uint256 code) private pure {
        if (code != 0) revert VenusError(code);
    }

    /// Approve to max once per (token, spender): later runs skip the SSTORE. Safe because these
    /// spenders only ever pull from their msg.sender (us) inside calls we make.
    function _approve(address token, address spender, uint256 amount) private {
        if (IERC20(token).allowance(address(this), spender) < amount) token.safeApprove(spender, type(uint256).max);
    }
}
