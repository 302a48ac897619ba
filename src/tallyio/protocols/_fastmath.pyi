# Types of the C extension built from _fastmath/module.c (see uniswap_v3_fast, aave_v3_fast).
from collections.abc import Callable, Mapping

from tallyio.protocols.aave_v3 import AccountData, EModeCategory, ReserveData, UserAccount
from tallyio.protocols.uniswap_v3 import SwapResult, V3Pool

def v3_swap(
    pool: V3Pool, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int
) -> SwapResult: ...
def v3_amount_out(pool: V3Pool, token_in: str, amount_in: int) -> int: ...
def v3_amount_in(pool: V3Pool, token_in: str, amount_out: int) -> int: ...
def aave_account_data(
    reserves: Mapping[str, ReserveData],
    account: UserAccount,
    timestamp: int,
    emode: EModeCategory | None = None,
) -> AccountData: ...
def _register_v3(
    swap: Callable[..., SwapResult],
    amount_out: Callable[..., int],
    amount_in: Callable[..., int],
    swap_result: type[SwapResult],
) -> None: ...
def _register_aave(
    account_data: Callable[..., AccountData], account_data_type: type[AccountData]
) -> None: ...
def clear_cache() -> None: ...
