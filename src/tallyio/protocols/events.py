"""Pool events as the contracts emit them: topic0 constants and pure decoders.

UniswapV2Pair.Sync, UniswapV3Pool.Swap/Mint/Burn and the Balancer V2 Vault's Swap and
PoolBalanceChanged. Fixed-size events are read word by word from the hex (strictly: the data
must be exactly the expected words and every value must fit its Solidity type), which is
several times faster than a generic ABI decoder on the hot path; the one dynamic event,
PoolBalanceChanged, goes through eth_abi. A log that does not decode raises EventDecodeError.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from eth_abi import decode
from eth_utils import keccak

from tallyio.core.events import Log

__all__ = [
    "BALANCER_POOL_BALANCE_CHANGED",
    "BALANCER_POOL_BALANCE_MANAGED",
    "BALANCER_SWAP",
    "BALANCER_SWAP_FEE_CHANGED",
    "POOL_TOPICS",
    "V2_SYNC",
    "V3_BURN",
    "V3_MINT",
    "V3_SWAP",
    "BalancerSwap",
    "EventDecodeError",
    "PoolBalanceChanged",
    "PoolBalanceManaged",
    "V2Sync",
    "V3Burn",
    "V3Mint",
    "V3Swap",
    "decode_balancer_swap",
    "decode_pool_balance_changed",
    "decode_pool_balance_managed",
    "decode_swap_fee_changed",
    "decode_v2_sync",
    "decode_v3_burn",
    "decode_v3_mint",
    "decode_v3_swap",
    "topic0",
]


def topic0(signature: str) -> str:
    """The event's topic0: keccak256 of its canonical signature, 0x-prefixed lowercase hex."""
    return "0x" + keccak(text=signature).hex()


V2_SYNC: Final = topic0("Sync(uint112,uint112)")
V3_SWAP: Final = topic0("Swap(address,address,int256,int256,uint160,uint128,int24)")
V3_MINT: Final = topic0("Mint(address,address,int24,int24,uint128,uint256,uint256)")
V3_BURN: Final = topic0("Burn(address,int24,int24,uint128,uint256,uint256)")
BALANCER_SWAP: Final = topic0("Swap(bytes32,address,address,uint256,uint256)")
BALANCER_POOL_BALANCE_CHANGED: Final = topic0(
    "PoolBalanceChanged(bytes32,address,address[],int256[],uint256[])"
)
BALANCER_SWAP_FEE_CHANGED: Final = topic0("SwapFeePercentageChanged(uint256)")  # by the pool
BALANCER_POOL_BALANCE_MANAGED: Final = topic0(
    "PoolBalanceManaged(bytes32,address,address,int256,int256)"
)
POOL_TOPICS: Final = (
    V2_SYNC,
    V3_SWAP,
    V3_MINT,
    V3_BURN,
    BALANCER_SWAP,
    BALANCER_POOL_BALANCE_CHANGED,
    BALANCER_SWAP_FEE_CHANGED,
    BALANCER_POOL_BALANCE_MANAGED,
)

_UINT256 = 2**256
_INT256_MIN = 2**255


class EventDecodeError(ValueError):
    """A log that is not the event its topic0 says (wrong topics, data length or ranges)."""


@dataclass(frozen=True, slots=True)
class V2Sync:
    """UniswapV2Pair.Sync: the pair's reserves after every swap, mint, burn and sync."""

    reserve0: int
    reserve1: int


@dataclass(frozen=True, slots=True)
class V3Swap:
    """UniswapV3Pool.Swap: the signed amounts and the pool's slot0 price, tick and liquidity
    after the swap."""

    sender: str
    recipient: str
    amount0: int
    amount1: int
    sqrt_price_x96: int
    liquidity: int
    tick: int


@dataclass(frozen=True, slots=True)
class V3Mint:
    """UniswapV3Pool.Mint: `amount` of liquidity added to [tick_lower, tick_upper)."""

    sender: str
    owner: str
    tick_lower: int
    tick_upper: int
    amount: int
    amount0: int
    amount1: int


@dataclass(frozen=True, slots=True)
class V3Burn:
    """UniswapV3Pool.Burn: `amount` of liquidity removed from [tick_lower, tick_upper)
    (0 for the position manager's fee poke)."""

    owner: str
    tick_lower: int
    tick_upper: int
    amount: int
    amount0: int
    amount1: int


@dataclass(frozen=True, slots=True)
class BalancerSwap:
    """Vault.Swap: the pool received `amount_in` of token_in and paid `amount_out`."""

    pool_id: str  # 0x-prefixed lowercase bytes32
    token_in: str
    token_out: str
    amount_in: int
    amount_out: int


@dataclass(frozen=True, slots=True)
class PoolBalanceChanged:
    """Vault.PoolBalanceChanged (joins and exits): per token, `deltas` > 0 paid in, < 0 paid
    out, and the protocol fees the vault took out of the pool's balance."""

    pool_id: str
    liquidity_provider: str
    tokens: tuple[str, ...]
    deltas: tuple[int, ...]
    protocol_fee_amounts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PoolBalanceManaged:
    """Vault.managePoolBalance by a token's asset manager: cash and managed balance deltas.

    WITHDRAW moves cash to managed (-x, +x), DEPOSIT managed to cash (+x, -x), UPDATE sets the
    managed balance (0, new - old); the pool's total balance moves by their sum."""

    pool_id: str
    asset_manager: str
    token: str
    cash_delta: int
    managed_delta: int


# -- words ---------------------------------------------------------------------------------
def _words(data: str, count: int, what: str) -> list[int]:
    body = data[2:] if data.startswith(("0x", "0X")) else data
    if len(body) != 64 * count:
        raise EventDecodeError(f"{what}: {len(body) // 2} data bytes, expected {32 * count}")
    try:
        return [int(body[i : i + 64], 16) for i in range(0, 64 * count, 64)]
    except ValueError as exc:
        raise EventDecodeError(f"{what}: data is not hex") from exc


def _topics(topics: Sequence[str], count: int, what: str) -> list[int]:
    if len(topics) != count + 1:
        raise EventDecodeError(f"{what}: {len(topics)} topics, expected {count + 1}")
    try:
        return [int(t, 16) for t in topics[1:]]
    except ValueError as exc:
        raise EventDecodeError(f"{what}: topic is not hex") from exc


def _uint(word: int, bits: int, what: str) -> int:
    if word >> bits:
        raise EventDecodeError(f"{what}: {word} is not a uint{bits}")
    return word


def _int(word: int, bits: int, what: str) -> int:
    """A two's complement word as a signed int that must fit int<bits>."""
    value = word - _UINT256 if word >= _INT256_MIN else word
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise EventDecodeError(f"{what}: {value} is not an int{bits}")
    return value


def _address(word: int, what: str) -> str:
    """Lowercase hex, as eth_abi and eth_getLogs give addresses (no checksum on the hot path)."""
    return f"0x{_uint(word, 160, what):040x}"


def _check(log: Log, topic: str, what: str) -> None:
    if not log.topics or log.topics[0].lower() != topic:
        raise EventDecodeError(f"{what}: topic0 {log.topics[:1]} is not {topic}")


# -- decoders ------------------------------------------------------------------------------
def decode_v2_sync(log: Log) -> V2Sync:
    _check(log, V2_SYNC, "Sync")
    _topics(log.topics, 0, "Sync")
    r0, r1 = _words(log.data, 2, "Sync")
    return V2Sync(_uint(r0, 112, "Sync reserve0"), _uint(r1, 112, "Sync reserve1"))


def decode_v3_swap(log: Log) -> V3Swap:
    _check(log, V3_SWAP, "V3 Swap")
    sender, recipient = _topics(log.topics, 2, "V3 Swap")
    a0, a1, price, liquidity, tick = _words(log.data, 5, "V3 Swap")
    return V3Swap(
        _address(sender, "V3 Swap sender"),
        _address(recipient, "V3 Swap recipient"),
        _int(a0, 256, "V3 Swap amount0"),
        _int(a1, 256, "V3 Swap amount1"),
        _uint(price, 160, "V3 Swap sqrtPriceX96"),
        _uint(liquidity, 128, "V3 Swap liquidity"),
        _int(tick, 24, "V3 Swap tick"),
    )


def decode_v3_mint(log: Log) -> V3Mint:
    _check(log, V3_MINT, "Mint")
    owner, lower, upper = _topics(log.topics, 3, "Mint")
    sender, amount, a0, a1 = _words(log.data, 4, "Mint")
    return V3Mint(
        _address(sender, "Mint sender"),
        _address(owner, "Mint owner"),
        _int(lower, 24, "Mint tickLower"),
        _int(upper, 24, "Mint tickUpper"),
        _uint(amount, 128, "Mint amount"),
        a0,
        a1,
    )


def decode_v3_burn(log: Log) -> V3Burn:
    _check(log, V3_BURN, "Burn")
    owner, lower, upper = _topics(log.topics, 3, "Burn")
    amount, a0, a1 = _words(log.data, 3, "Burn")
    return V3Burn(
        _address(owner, "Burn owner"),
        _int(lower, 24, "Burn tickLower"),
        _int(upper, 24, "Burn tickUpper"),
        _uint(amount, 128, "Burn amount"),
        a0,
        a1,
    )


def decode_balancer_swap(log: Log) -> BalancerSwap:
    _check(log, BALANCER_SWAP, "Balancer Swap")
    pool_id, token_in, token_out = _topics(log.topics, 3, "Balancer Swap")
    amount_in, amount_out = _words(log.data, 2, "Balancer Swap")
    return BalancerSwap(
        f"0x{pool_id:064x}",
        _address(token_in, "Balancer Swap tokenIn"),
        _address(token_out, "Balancer Swap tokenOut"),
        amount_in,
        amount_out,
    )


def decode_pool_balance_changed(log: Log) -> PoolBalanceChanged:
    what = "PoolBalanceChanged"
    _check(log, BALANCER_POOL_BALANCE_CHANGED, what)
    pool_id, provider = _topics(log.topics, 2, what)
    try:
        tokens, deltas, fees = decode(
            ["address[]", "int256[]", "uint256[]"], bytes.fromhex(log.data.removeprefix("0x"))
        )
    except Exception as exc:  # eth_abi raises several decoding errors
        raise EventDecodeError(f"{what}: {exc}") from exc
    if not len(tokens) == len(deltas) == len(fees):
        raise EventDecodeError(f"{what}: {len(tokens)} tokens, {len(deltas)} deltas, {len(fees)}")
    return PoolBalanceChanged(
        f"0x{pool_id:064x}",
        _address(provider, f"{what} liquidityProvider"),
        tuple(str(t).lower() for t in tokens),
        tuple(deltas),
        tuple(fees),
    )


def decode_swap_fee_changed(log: Log) -> int:
    """BasePool.SwapFeePercentageChanged: the pool's new swap fee (1e18-scaled)."""
    _check(log, BALANCER_SWAP_FEE_CHANGED, "SwapFeePercentageChanged")
    _topics(log.topics, 0, "SwapFeePercentageChanged")
    (fee,) = _words(log.data, 1, "SwapFeePercentageChanged")
    return fee


def decode_pool_balance_managed(log: Log) -> PoolBalanceManaged:
    what = "PoolBalanceManaged"
    _check(log, BALANCER_POOL_BALANCE_MANAGED, what)
    pool_id, manager, token = _topics(log.topics, 3, what)
    cash, managed = _words(log.data, 2, what)
    return PoolBalanceManaged(
        f"0x{pool_id:064x}",
        _address(manager, f"{what} assetManager"),
        _address(token, f"{what} token"),
        _int(cash, 256, f"{what} cashDelta"),
        _int(managed, 256, f"{what} managedDelta"),
    )
