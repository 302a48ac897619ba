"""balancer_fast (the C path) equals the readable Balancer model value for value.

Random weighted pools of 2-8 tokens (weights from 1 wei to nearly all of 1e18, the 1/2/4
exponent shortcuts included), decimals 0-18, balances from 0 to past 2**256, fees 0 to nearly
100%, amounts from 0 to past 2**256 (the 30% ratio limits and overflows included), tokens in
other spellings, unknown and repeated: the fast path returns what WeightedPool.amount_out /
amount_in return or raises what they raise (type and message), and with the fallback swapped
out, C computed every value itself. LogExpMath.pow is held to the same over its whole domain.
A devnet test then checks fast quotes against real vault swaps on WeightedPool v3 bytecode.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from eth_abi import decode
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from tallyio.devnet.balancer_v2 import (
    VAULT,
    WEIGHTED_POOL,
    WEIGHTED_POOL_FACTORY,
    PoolSpec,
    _create_pool,
)
from tallyio.devnet.context import DECIMALS
from tallyio.devnet.deployer import DeployError, load_artifact
from tallyio.protocols import _fastmath
from tallyio.protocols import balancer_fast as fast
from tallyio.protocols import balancer_logexp as logexp
from tallyio.protocols.balancer import ONE, BalancerMathError, WeightedPool, scaling_factor

if TYPE_CHECKING:
    from conftest import Devnet

TOKENS = tuple(f"0x{k:02X}" + "aB" * 19 for k in range(9))  # mixed case, like checksums


def outcome(fn: Any, *args: Any) -> Any:
    """The value, or the exception's type and message."""
    try:
        return fn(*args)
    except Exception as e:
        return type(e), str(e)


class Fallback(Exception):
    """The C path handed the call to the readable model."""


def _fallback(*args: Any, **kwargs: Any) -> Any:
    raise Fallback


@contextmanager
def native_only() -> Iterator[None]:
    """While inside, a call the C path does not finish raises Fallback."""
    _fastmath._register_balancer(_fallback, _fallback, _fallback)
    try:
        yield
    finally:
        _fastmath._register_balancer(WeightedPool.amount_out, WeightedPool.amount_in, logexp.pow)


def same(fast_fn: Any, readable_fn: Any, *args: Any, strict: bool = True) -> Any:
    """Equal outcomes; and, strict, every value the readable model returns C computed on its
    own (it hands over only what the readable model raises on)."""
    got, want = outcome(fast_fn, *args), outcome(readable_fn, *args)
    assert got == want, args
    if strict:
        with native_only():
            native = outcome(fast_fn, *args)
        raised = isinstance(want, tuple) and isinstance(want[0], type)
        assert native == ((Fallback, "") if raised else want), args
    return want


def quotes_agree(pool: WeightedPool, token_in: str, token_out: str, amount: int) -> Any:
    out = same(fast.amount_out, WeightedPool.amount_out, pool, token_in, token_out, amount)
    same(fast.amount_in, WeightedPool.amount_in, pool, token_in, token_out, amount)
    return out


def weighted(balances: tuple[int, ...], weights: tuple[int, ...], decimals: tuple[int, ...],
             fee: int) -> WeightedPool:  # fmt: skip
    return WeightedPool(
        pool_id="0x" + "00" * 32,
        address="0x" + "00" * 20,
        tokens=TOKENS[: len(balances)],
        balances=balances,
        weights=weights,
        scaling_factors=tuple(scaling_factor(d) for d in decimals),
        swap_fee=fee,
    )


# -- strategies ----------------------------------------------------------------------------
@st.composite
def weight_sets(draw: st.DrawFn, n: int) -> tuple[int, ...]:
    """n positive weights summing to 1e18: shortcut ratios, whole percents, or any wei."""
    if n == 2 and draw(st.booleans()):
        first = draw(st.sampled_from([ONE // 2, ONE * 4 // 5, ONE // 5, ONE * 2 // 3, ONE // 3]))
        return (first, ONE - first)
    if draw(st.booleans()):
        raw = draw(st.lists(st.integers(1, 100), min_size=n, max_size=n))
    else:
        raw = draw(st.lists(st.integers(1, 10**18), min_size=n, max_size=n))
    weights = [max(1, ONE * r // sum(raw)) for r in raw]
    weights[-1] += ONE - sum(weights)
    if weights[-1] <= 0:  # rounding left nothing for the last: take it from the largest
        k = weights.index(max(weights))
        weights[k] += weights[-1] - 1
        weights[-1] = 1
    return tuple(weights)


balances_st = st.one_of(
    st.integers(0, 10**30),
    st.integers(10**6, 10**27),
    st.integers(0, 2**256 - 1),
    st.sampled_from([0, 1, 2**128, 2**255, 2**256 - 1]),
)
fees = st.one_of(
    st.sampled_from([0, 10**12, 10**15, 3 * 10**15, 10**16, 10**17, ONE - 1]),
    st.integers(0, 10**17),
    st.integers(0, ONE - 1),
)


@st.composite
def pools(draw: st.DrawFn) -> WeightedPool:
    n = draw(st.integers(2, 8))
    decimals = tuple(draw(st.lists(st.integers(0, 18), min_size=n, max_size=n)))
    if draw(st.integers(0, 3)):  # realistic: 1 to 10**12 whole tokens
        balances = tuple(10 ** d * draw(st.integers(1, 10**12)) + draw(st.integers(0, 10**d))
                         for d in decimals)  # fmt: skip
    else:
        balances = tuple(draw(st.lists(balances_st, min_size=n, max_size=n)))
    return weighted(balances, draw(weight_sets(n)), decimals, draw(fees))


@st.composite
def amounts(draw: st.DrawFn, balance: int) -> int:
    """Mostly a fraction of the balance (up to past the 30% limit), else anything."""
    if draw(st.integers(0, 3)):
        return balance * draw(st.integers(0, 10**6)) // draw(st.sampled_from([10**6, 3 * 10**6]))
    return draw(st.one_of(st.integers(0, 10**40), st.integers(0, 2**256 + 5),
                          st.sampled_from([0, 1, 2, 2**255, 2**256 - 1, 2**256, -1])))  # fmt: skip


# -- tests ---------------------------------------------------------------------------------
@settings(max_examples=2_500, deadline=None)
@given(pools(), st.data())
def test_quotes_equal_the_readable_model(pool: WeightedPool, data: st.DataObject) -> None:
    n = len(pool.tokens)
    i = data.draw(st.integers(0, n - 1))
    o = (i + data.draw(st.integers(0 if data.draw(st.integers(0, 9)) == 0 else 1, n - 1))) % n
    spell = data.draw(st.sampled_from(["as is", "lower", "upper"]))
    token_in, token_out = pool.tokens[i], pool.tokens[o]
    if spell != "as is":  # another spelling of the same address: C folds ASCII case too
        token_in = getattr(token_in, spell)().replace("0X", "0x")
    quotes_agree(pool, token_in, token_out, data.draw(amounts(pool.balances[i])))
    quotes_agree(pool, token_in, token_out, data.draw(amounts(pool.balances[o])))


x_values = st.one_of(
    st.integers(0, 2 * ONE),
    st.integers(logexp.LN_36_LOWER_BOUND - 3, logexp.LN_36_UPPER_BOUND + 3),
    st.integers(0, 2**255 + 5),
    st.integers(0, 10**60),
    st.sampled_from([
        0, 1, ONE, logexp.LN_36_LOWER_BOUND, logexp.LN_36_LOWER_BOUND + 1,
        logexp.LN_36_UPPER_BOUND - 1, logexp.LN_36_UPPER_BOUND, logexp.A1 * ONE - 1,
        logexp.A1 * ONE, logexp.A0 * ONE - 1, logexp.A0 * ONE, 2**255 - 1, 2**255, 2**256, -1,
    ]),
)  # fmt: skip
y_values = st.one_of(
    st.integers(0, 10 * ONE),
    st.integers(0, 10**17),
    st.integers(0, logexp.MILD_EXPONENT_BOUND + 5),
    st.sampled_from([0, 1, ONE, 2 * ONE, 4 * ONE, logexp.MILD_EXPONENT_BOUND - 1,
                     logexp.MILD_EXPONENT_BOUND, 2**256, -1]),
)  # fmt: skip


@settings(max_examples=4_000, deadline=None)
@given(x_values, y_values)
def test_pow_equals_logexpmath(x: int, y: int) -> None:
    # past uint256 is outside the contract's domain: C hands it over (pow(0, 2**256) is 0)
    same(fast.pow, logexp.pow, x, y, strict=0 <= x < 2**256 and 0 <= y < 2**256)


def test_exp_and_ln_at_every_term_boundary() -> None:
    """pow(x, 1e18) = exp(ln x) and pow(e^k, y): each of ln's and exp's decomposition terms
    switched on and off, both signs, at the edges of exp's domain."""
    xs = {1, 2, 10**6, ONE - 1, ONE, ONE + 1}
    for _, a_n in logexp.TERMS_20:
        xs |= {a_n // 100 - 1, a_n // 100, a_n // 100 + 1, a_n * ONE // 100, 10**36 // a_n}
    xs |= {logexp.A1 * ONE + k for k in (-1, 0, 1)} | {logexp.A0 * ONE + k for k in (-1, 0, 1)}
    ys = [1, ONE // 3, ONE, ONE + 1, 3 * ONE, 130 * ONE // 41, 10**20, 10**21]
    for x in sorted(xs):
        for y in ys:
            same(fast.pow, logexp.pow, x, y)
    e = 2718281828459045235  # e in 18 decimals: exponents near exp's bounds, both sides
    for y in [
        k * ONE + d for k in (40, 41, 64, 128, 129, 130, 131) for d in (-(10**15), 0, 10**15)
    ]:
        same(fast.pow, logexp.pow, e, y)
        same(fast.pow, logexp.pow, ONE * ONE // e, y)


def test_ratio_limits_and_shortcuts_at_their_edges() -> None:
    pool = weighted((4_000 * ONE, 2_000_000 * 10**6), (ONE * 4 // 5, ONE // 5), (18, 6), 3 * 10**15)
    weth, usdc = pool.tokens
    limit_in = pool.balances[0] * 3 // 10 * ONE // (ONE - pool.swap_fee)
    for amount in range(limit_in - 3, limit_in + 4):  # GIVEN_IN: the limit after the fee
        quotes_agree(pool, weth, usdc, amount)
    for amount in range(pool.balances[1] * 3 // 10 - 3, pool.balances[1] * 3 // 10 + 4):
        same(fast.amount_in, WeightedPool.amount_in, pool, weth, usdc, amount)
    with pytest.raises(BalancerMathError, match="BAL#304"):
        fast.amount_out(pool, weth, usdc, limit_in + 10**18)
    with pytest.raises(BalancerMathError, match="BAL#305"):
        fast.amount_in(pool, weth, usdc, pool.balances[1] // 2)
    for amount in (1, 10**6, 10**18, 10**21):  # exponents 4 and 0.25, both kinds
        quotes_agree(pool, weth, usdc, amount)
        quotes_agree(pool, usdc, weth, amount)


def test_other_arguments_go_to_the_readable_model() -> None:
    pool = weighted((10**24, 10**12), (ONE * 3 // 5, ONE * 2 // 5), (18, 6), 10**15)
    a, b = pool.tokens
    for token_in, token_out in ((a, "0xnot"), ("0xnot", b), (a, a), (a, a.lower()), (b, 7)):
        for amount in (0, 1, 10**18, -1, 2**256, 1.5):
            strict = isinstance(amount, int)  # a float is the model's business, never C's
            for fn, ref in ((fast.amount_out, WeightedPool.amount_out),
                            (fast.amount_in, WeightedPool.amount_in)):  # fmt: skip
                same(fn, ref, pool, token_in, token_out, amount, strict=strict)
    nine = weighted((10**24,) * 9, (ONE // 9,) * 8 + (ONE - 8 * (ONE // 9),), (18,) * 9, 10**15)
    big = weighted((2**256, 10**24), (ONE // 2, ONE // 2), (18, 18), 10**15)
    accented = replace(pool, tokens=("0xé" + "a" * 39, b))
    for p in (nine, big, accented):  # not packed: every call is the readable model's
        same(fast.amount_out, WeightedPool.amount_out, p, p.tokens[1], p.tokens[0], 10**18,
             strict=False)  # fmt: skip
        same(fast.amount_out, WeightedPool.amount_out, p, p.tokens[0], p.tokens[1], 10**18,
             strict=False)  # fmt: skip
    assert fast.amount_out(pool, a, b, amount_in=10**18) == pool.amount_out(a, b, 10**18)
    assert fast.pow(ONE * 3, y=ONE // 2) == logexp.pow(ONE * 3, ONE // 2)


def test_a_new_pool_value_is_a_new_pack() -> None:
    pool = weighted((10**24, 10**12), (ONE * 3 // 5, ONE * 2 // 5), (18, 6), 10**15)
    a, b = pool.tokens
    moved = pool.after_swap(a, b, 10**22, pool.amount_out(a, b, 10**22))
    fast.clear_cache()
    for p in (pool, moved, pool, moved):
        assert fast.amount_out(p, a, b, 10**20) == p.amount_out(a, b, 10**20)
    assert fast.amount_out(pool, a, b, 10**20) != fast.amount_out(moved, a, b, 10**20)


# -- the real vault ------------------------------------------------------------------------
SWAP_TOPIC = "0x" + keccak(text="Swap(bytes32,address,address,uint256,uint256)").hex()
GIVEN_IN, GIVEN_OUT = 0, 1
DEADLINE = 2**63
VAULT_SWAPS = 90
ODD_POOL = PoolSpec(("WETH", "DAI", "WBTC", "USDC"), (42, 8, 35, 15), 1_234_567_890_123_456, 10**6)


def chain_pool(chain: Devnet, vault: Any, rec: dict[str, Any]) -> WeightedPool:
    pool = chain.d.at(load_artifact(WEIGHTED_POOL), rec["address"])
    tokens, balances, _ = vault.functions.getPoolTokens(bytes.fromhex(rec["pool_id"][2:])).call()
    return WeightedPool(
        pool_id=rec["pool_id"],
        address=rec["address"],
        tokens=tuple(tokens),
        balances=tuple(balances),
        weights=tuple(pool.functions.getNormalizedWeights().call()),
        scaling_factors=tuple(pool.functions.getScalingFactors().call()),
        swap_fee=pool.functions.getSwapFeePercentage().call(),
    )


def vault_swap(chain: Devnet, vault: Any, trader: str, pool: WeightedPool, swap: tuple[Any, ...],
               *, call_only: bool = False) -> tuple[int, int]:  # fmt: skip
    """Vault.swap from the trader's wallet: the Swap event's (amount in, amount out)."""
    kind, i, o, amount = swap
    single = (bytes.fromhex(pool.pool_id[2:]), kind, pool.tokens[i], pool.tokens[o], amount, b"")
    limit = 0 if kind == GIVEN_IN else 2**256 - 1
    fn = vault.functions.swap(single, (trader, False, trader, False), limit, DEADLINE)
    if call_only:
        chain.d.rpc("eth_call", {"from": trader, "to": vault.address,
                                 "data": fn._encode_transaction_data()}, "latest")  # fmt: skip
        raise AssertionError(f"swap {swap} did not revert")
    receipt = chain.d.send(fn, sender=trader)
    (log,) = [g for g in receipt["logs"] if g["topics"][0] == SWAP_TOPIC]
    amount_in, amount_out = decode(["uint256", "uint256"], bytes.fromhex(log["data"][2:]))
    return int(amount_in), int(amount_out)


@pytest.mark.devnet
def test_fast_quotes_are_the_vaults_swaps(chain: Devnet) -> None:
    """The devnet's 80/20 and 40/40/20 pools and a 42/8/35/15 one with an odd fee: each fast
    quote (native only, lowercase tokens as the routes pass them) is the Swap event's amount,
    and past the 30% limits both the fast path and the vault refuse with the same BAL#."""
    bal = chain.manifest["balancer_v2"]
    vault = chain.d.at(load_artifact(VAULT), bal["vault"])
    ctx = chain.context()
    factory = chain.d.at(load_artifact(WEIGHTED_POOL_FACTORY), bal["weighted_pool_factory"])
    recs = [*bal["pools"], _create_pool(ctx, vault, factory, ODD_POOL)]
    trader = chain.account("trader")
    for symbol in ("WETH", "USDC", "WBTC", "DAI"):
        ctx.fund(symbol, trader, 10 ** (DECIMALS[symbol] + 12))
        ctx.approve(symbol, trader, vault.address)
    rng = random.Random(6)
    for n in range(VAULT_SWAPS):
        pool = chain_pool(chain, vault, recs[n % len(recs)])
        i, o = rng.sample(range(len(pool.tokens)), 2)
        kind = (GIVEN_IN, GIVEN_OUT)[n // len(recs) % 2]
        given = pool.balances[i if kind == GIVEN_IN else o]
        amount = max(1, int(given * 10 ** rng.uniform(-9, -0.65)))  # up to 22% of the balance
        t_in, t_out = pool.tokens[i].lower(), pool.tokens[o].lower()
        with native_only():
            quote = (fast.amount_out if kind == GIVEN_IN else fast.amount_in)(
                pool, t_in, t_out, amount
            )
        moved = vault_swap(chain, vault, trader, pool, (kind, i, o, amount))
        assert moved == ((amount, quote) if kind == GIVEN_IN else (quote, amount)), (n, pool)
    pool = chain_pool(chain, vault, recs[0])
    for kind, code, fn in ((GIVEN_IN, 304, fast.amount_out), (GIVEN_OUT, 305, fast.amount_in)):
        amount = pool.balances[0 if kind == GIVEN_IN else 1] * 2 // 5
        with pytest.raises(BalancerMathError, match=f"BAL#{code}"):
            fn(pool, pool.tokens[0], pool.tokens[1], amount)
        with pytest.raises(DeployError, match=f"BAL#{code}"):
            vault_swap(chain, vault, trader, pool, (kind, 0, 1, amount), call_only=True)
