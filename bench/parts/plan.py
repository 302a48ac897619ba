"""Plan -> signed bytes: what the executors do between a simulation and the send.

One iteration is what `Approved` + the pipeline + `BundleExecutor` run for a plan: the
TallyExecutor calldata (a Balancer flash loan, an Aave liquidation and a Uniswap V2 sale, as in
docs/executor.md) by `fast_encode_plan`, the executors' encoder (checked byte for byte against
the eth_abi reference `encode_plan`, timed here too), the fees (`next_base_fee` from the
parent header and `FeePolicy.quote`), and signing the EIP-1559 transaction dict with our
`Signer`. Figures are microseconds per plan, the best of `rounds` rounds of N plans (nonces
differ, so no signature is a repeat), with each stage timed alone too.
Target (issue #4): under 200 us.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tallyio.core.plan import (
    AaveLiquidation,
    FlashLoan,
    FlashSource,
    Plan,
    UniswapV2Swap,
    encode_plan,
)
from tallyio.execution.calldata import fast_encode_plan
from tallyio.execution.fees import FeeCaps, FeePolicy, ParentHeader, fee_params, next_base_fee
from tallyio.execution.signer import SecretKey, Signer

TARGET_US = 200.0
N = 1_000
GWEI = 10**9
KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
A = [f"0x{i:040x}" for i in range(0xA0, 0xA8)]  # pool, WETH, USDC, borrower, pair, vault, ...
PARENT = ParentHeader(base_fee_per_gas=12 * GWEI, gas_used=17_000_000, gas_limit=30_000_000)
POLICY = FeePolicy(priority_fee=GWEI, profit_share_bps=500, headroom_blocks=2)
CAPS = FeeCaps(max_fee_per_gas=500 * GWEI, max_priority_fee_per_gas=100 * GWEI)
PARAMS = fee_params("ethereum")


def _plan() -> Plan:
    liquidate = AaveLiquidation(A[0], collateral_asset=A[1], debt_asset=A[2], user=A[3])
    sell = UniswapV2Swap(A[4], token_in=A[1], token_out=A[2], fee_bps=30)
    loan = FlashLoan(FlashSource.BALANCER, A[5], A[2], 5_000 * 10**6)
    return Plan((liquidate, sell), profit_token=A[2], min_profit=300 * 10**6, loan=loan)


def _best_us(step: Callable[[int], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for nonce in range(N):
            step(nonce)
        best = min(best, time.perf_counter() - start)
    return best / N * 1e6


def run(rounds: int = 5) -> dict[str, Any]:
    plan, signer, executor = _plan(), Signer(SecretKey(KEY)), A[6]
    calldata = fast_encode_plan(plan)
    assert calldata == encode_plan(plan)

    def fees(_: int) -> Any:
        base = next_base_fee(PARENT, PARAMS)
        return POLICY.quote(base, params=PARAMS, caps=CAPS, expected_profit=10**17, gas=600_000)

    def sign(nonce: int, data: bytes = calldata) -> bytes:
        tx = {"chainId": 1, "nonce": nonce, "to": executor, "value": 0, "data": data,
              "gas": 700_000, "maxFeePerGas": 40 * GWEI, "maxPriorityFeePerGas": GWEI}  # fmt: skip
        return signer.sign_transaction(tx)

    def whole(nonce: int) -> bytes:
        data = fast_encode_plan(plan)
        quoted = fees(nonce)
        tx = {"chainId": 1, "nonce": nonce, "to": executor, "value": 0, "data": data,
              "gas": 700_000, **quoted.tx_fields()}  # fmt: skip
        return signer.sign_transaction(tx)

    total = _best_us(whole, rounds)
    return {
        "plans": N,
        "calldata_bytes": len(calldata),
        "encode_us": round(_best_us(lambda _: fast_encode_plan(plan), rounds), 2),
        "encode_eth_abi_us": round(_best_us(lambda _: encode_plan(plan), max(1, rounds // 2)), 2),
        "fees_us": round(_best_us(fees, rounds), 2),
        "sign_us": round(_best_us(sign, rounds), 2),
        "plan_to_signed_us": round(total, 2),
        "target_us": TARGET_US,
        "passed": total < TARGET_US,
    }


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(), indent=2))
