"""Uniswap V3 quotes on the native fast path, beside the readable model (DESIGN rule 1).

`swap`, `amount_out` and `amount_in` take the arguments of `uniswap_v3.swap`,
`V3Pool.amount_out` and `V3Pool.amount_in` and return the same values, tested equal to them
(tests/unit/protocols/test_fastmath_v3.py; real swaps in tests/integration/test_exact_uniswap.py).
They run `_fastmath`, a C port of the same libraries on 256-bit integers: a pool is packed
once per V3Pool value (it is frozen; the pack keeps it alive, so the value's id names it), then
a quote is one C call. Whatever the C path does not take - a revert, a partial fill, an
unknown token, a value past 256 bits - goes to the readable model with the same arguments, so
errors are its exceptions and messages. Use this for hot loops; read uniswap_v3 to understand.
"""

from __future__ import annotations

from tallyio.protocols import _fastmath
from tallyio.protocols.uniswap_v3 import SwapResult, V3Pool
from tallyio.protocols.uniswap_v3 import swap as _readable_swap

__all__ = ["amount_in", "amount_out", "clear_cache", "swap"]

_fastmath._register_v3(_readable_swap, V3Pool.amount_out, V3Pool.amount_in, SwapResult)

swap = _fastmath.v3_swap
amount_out = _fastmath.v3_amount_out
amount_in = _fastmath.v3_amount_in
clear_cache = _fastmath.clear_cache
