"""Aave V3 account data on the native fast path, beside the readable model (DESIGN rule 1).

`calculate_user_account_data(reserves, account, timestamp, emode=None)` returns what
`aave_v3.calculate_user_account_data` returns, tested equal to it
(tests/unit/protocols/test_fastmath_aave.py). It runs `_fastmath`, a C port of
GenericLogic.calculateUserAccountData with WadRayMath/PercentageMath/MathUtils on 256-bit
integers: each frozen UserAccount, ReserveData and EModeCategory value is packed once (the
pack keeps the value alive, so its id names it), then a check is one C call; `reserves` may
be any mapping and may change between calls: an account keeps the reserve packs it last
looked up only while the same dict keeps the same version tag (CPython 3.11's, which changes
with every change to the dict); other mappings, and other Pythons, are read on every call.
Results are never cached: every call computes every value. Whatever the C path
does not take - a missing reserve, the wrong e-mode, a value past 256 bits, an overflow the
library reverts on - goes to the readable model with the same arguments, so errors are its own.
"""

from __future__ import annotations

from tallyio.protocols import _fastmath
from tallyio.protocols.aave_v3 import AccountData
from tallyio.protocols.aave_v3 import calculate_user_account_data as _readable

_fastmath._register_aave(_readable, AccountData)

__all__ = ["calculate_user_account_data", "clear_cache"]

calculate_user_account_data = _fastmath.aave_account_data
clear_cache = _fastmath.clear_cache
