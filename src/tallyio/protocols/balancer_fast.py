"""Balancer V2 weighted quotes on the native fast path, beside the readable model (DESIGN rule 1).

`amount_out(pool, token_in, token_out, amount_in)` and `amount_in(pool, token_in, token_out,
amount_out)` take the arguments of `WeightedPool.amount_out` / `WeightedPool.amount_in` and
return the same values; `pow(x, y)` is `balancer_logexp.pow`. All are tested equal to the
readable model (tests/unit/protocols/test_fastmath_balancer.py; real vault swaps in the same
file's devnet test). They run `_fastmath`, a C port of LogExpMath, FixedPoint, WeightedMath and
onSwap on 256-bit integers (_fastmath_c/balancer.h): a pool is packed once per WeightedPool
value (it is frozen; the pack keeps it alive, so the value's id names it), then a quote is one
C call. Whatever the C path does not take - a BAL# revert, an overflow, the 30% ratio limit,
an unknown token, a value past 256 bits - goes to the readable model with the same arguments,
so errors are its exceptions and messages. Use this for hot loops; read balancer to understand.
"""

from __future__ import annotations

from tallyio.protocols import _fastmath
from tallyio.protocols.balancer import WeightedPool
from tallyio.protocols.balancer_logexp import pow as _readable_pow

__all__ = ["amount_in", "amount_out", "clear_cache", "pow"]

_fastmath._register_balancer(WeightedPool.amount_out, WeightedPool.amount_in, _readable_pow)

amount_out = _fastmath.bal_amount_out
amount_in = _fastmath.bal_amount_in
pow = _fastmath.bal_pow  # LogExpMath.pow, named as balancer_logexp names it
clear_cache = _fastmath.clear_cache
