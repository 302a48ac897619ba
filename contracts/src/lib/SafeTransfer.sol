// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice transfer/approve that accept tokens returning nothing (USDT) and reject ones returning false.
library SafeTransfer {
    error TokenCallFailed(address token);

    function safeTransfer(address token, address to, uint256 amount) internal {
        _call(token, abi.encodeWithSelector(0xa9059cbb, to, amount)); // transfer(address,uint256)
    }

    function safeApprove(address token, address spender, uint256 amount) internal {
        _call(token, abi.encodeWithSelector(0x095ea7b3, spender, amount)); // approve(address,uint256)
    }

    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory ret) = token.call(data);
        // Empty return data is fine only from a contract: a call to an empty address "succeeds".
        if (!ok || (ret.length == 0 ? token.code.length == 0 : !abi.decode(ret, (bool)))) {
            revert TokenCallFailed(token);
        }
    }
}
