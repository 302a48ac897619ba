"""How long one exact Balancer V2 weighted quote takes: the readable model (pure Python ints,
protocols.balancer) and the native fast path beside it (protocols.balancer_fast, `_fast_us`),
checked equal to it here on every size timed.

Each figure is microseconds per quote, the best of several timed rounds, over a spread of sizes.
The paths differ: an 80/20 pool sold from the 80 side (exponent 4) is four fixed-point
multiplications; every other exponent goes through LogExpMath (ln, then exp).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tallyio.protocols import balancer_fast
from tallyio.protocols.balancer import ONE, WeightedPool, scaling_factor

ROUNDS = 5
QUOTES_PER_ROUND = 2_000
FAST_REPEAT = 10  # the fast path times each size this many times per round

WETH, USDC, WBTC, DAI = ("0x" + c * 40 for c in "1234")


def _pool(
    tokens: tuple[str, ...],
    decimals: tuple[int, ...],
    balances: tuple[int, ...],
    weights_pct: tuple[int, ...],
    fee: int,
) -> WeightedPool:
    return WeightedPool(
        pool_id="0x" + "00" * 32,
        address="0x" + "00" * 20,
        tokens=tokens,
        balances=balances,
        weights=tuple(w * ONE // 100 for w in weights_pct),
        scaling_factors=tuple(scaling_factor(d) for d in decimals),
        swap_fee=fee,
    )


B80_20 = _pool((WETH, USDC), (18, 6), (4_000 * ONE, 2_000_000 * 10**6), (80, 20), 3 * 10**15)
B40_40_20 = _pool(
    (WETH, WBTC, DAI), (18, 8, 18), (1_200 * ONE, 40 * 10**8, 1_200_000 * ONE), (40, 40, 20), 10**15
)


def _us_per_call(quote: Callable[[int], int], amounts: list[int], digits: int = 2) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter_ns()
        for amount in amounts:
            quote(amount)
        best = min(best, (time.perf_counter_ns() - started) / len(amounts))
    return round(best / 1_000, digits)


def _fast(
    pool: WeightedPool, token_in: str, token_out: str, given_in: bool
) -> Callable[[int], int]:
    if given_in:
        return lambda a: balancer_fast.amount_out(pool, token_in, token_out, a)
    return lambda a: balancer_fast.amount_in(pool, token_in, token_out, a)


def _checked_fast_us(
    readable: Callable[[int], int], fast: Callable[[int], int], amounts: list[int]
) -> float:
    """The fast path's time, after checking it answers exactly as the readable model does."""
    for amount in amounts:
        if fast(amount) != readable(amount):
            raise AssertionError(f"balancer_fast differs from the model at {amount}")
    return _us_per_call(fast, amounts * FAST_REPEAT, digits=3)


def _sizes(balance: int) -> list[int]:
    """Evenly from 1/8000 of the balance up to a quarter of it, largest first."""
    return [balance * (k + 1) // (4 * QUOTES_PER_ROUND) for k in range(QUOTES_PER_ROUND)][::-1]


def run() -> dict[str, Any]:
    weth_80, usdc_20 = B80_20.balances
    weth_40, _, dai_20 = B40_40_20.balances
    cases: list[tuple[str, Callable[[int], int], int]] = [
        ("80_20_out_given_in_exp_4_us", lambda a: B80_20.amount_out(WETH, USDC, a), weth_80),
        ("80_20_out_given_in_exp_0.25_us", lambda a: B80_20.amount_out(USDC, WETH, a), usdc_20),
        ("80_20_in_given_out_exp_0.25_us", lambda a: B80_20.amount_in(WETH, USDC, a), usdc_20),
        ("40_40_20_out_given_in_exp_0.5_us", lambda a: B40_40_20.amount_out(DAI, WETH, a), dai_20),
        ("40_40_20_in_given_out_exp_2_us", lambda a: B40_40_20.amount_in(DAI, WETH, a), weth_40),
        ("40_40_20_out_given_in_exp_1_us", lambda a: B40_40_20.amount_out(WETH, WBTC, a), weth_40),
    ]
    fast = [
        _fast(B80_20, WETH, USDC, True),
        _fast(B80_20, USDC, WETH, True),
        _fast(B80_20, WETH, USDC, False),
        _fast(B40_40_20, DAI, WETH, True),
        _fast(B40_40_20, DAI, WETH, False),
        _fast(B40_40_20, WETH, WBTC, True),
    ]
    figures: dict[str, Any] = {
        name: _us_per_call(quote, _sizes(balance)) for name, quote, balance in cases
    }
    for (name, quote, balance), native in zip(cases, fast, strict=True):
        figures[name.removesuffix("_us") + "_fast_us"] = _checked_fast_us(
            quote, native, _sizes(balance)
        )
    logexp = [k for k in figures if "exp_0." in k and not k.endswith("_fast_us")]
    figures["logexp_quote_us_max"] = max(figures[k] for k in logexp)
    figures["logexp_quote_fast_us_max"] = max(figures[k[:-3] + "_fast_us"] for k in logexp)
    figures["logexp_fast_speedup_min"] = round(
        min(figures[k] / figures[k[:-3] + "_fast_us"] for k in logexp), 1
    )
    figures["quotes_per_case"] = ROUNDS * QUOTES_PER_ROUND
    figures["fast_quotes_per_case"] = ROUNDS * QUOTES_PER_ROUND * FAST_REPEAT
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
