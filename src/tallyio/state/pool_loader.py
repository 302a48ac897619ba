"""A snapshot of every configured pool, read through Multicall3 at one pinned block.

Three rounds of batched multicalls, all at the same block number:
  1. V2 getReserves/token0/token1; V3 slot0/liquidity/tickSpacing/fee/token0/token1;
     Balancer Vault.getPoolTokens and the pool's getNormalizedWeights/getSwapFeePercentage/
     getScalingFactors;
  2. every V3 tickBitmap word over the usable tick range;
  3. ticks(tick) for each set bit: liquidityGross and liquidityNet.
The block's hash is read first and checked again at the end, so a reorg under the loader is
an error rather than a snapshot that mixes two branches. The result is the entries that
MarketState starts from (keys as in state.pools) with the block they hold at.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from tallyio.chain.errors import ChainError
from tallyio.chain.multicall import Call, multicall
from tallyio.chain.rpc import RpcClient
from tallyio.protocols.balancer import WeightedPool
from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.protocols.uniswap_v3_math import MAX_TICK, MIN_TICK
from tallyio.state.pools import (
    balancer_vault_key,
    liquidity_gross_key,
    pool_handlers,
    pool_key,
)
from tallyio.state.store import MarketState, StateKey

__all__ = [
    "BalancerSource",
    "PoolSources",
    "Snapshot",
    "SnapshotError",
    "V2Source",
    "bitmap_words",
    "load_pools",
    "sources_from_manifest",
]

_TICK_INFO = ["uint128", "int128", "uint256", "uint256", "int56", "uint160", "uint32", "bool"]


class SnapshotError(ChainError):
    """A read failed, or the chain moved to another branch while the snapshot was read."""


@dataclass(frozen=True, slots=True)
class V2Source:
    address: str
    fee_bps: int = 30


@dataclass(frozen=True, slots=True)
class BalancerSource:
    vault: str
    pool_id: str  # 0x-prefixed bytes32


@dataclass(frozen=True, slots=True)
class PoolSources:
    """Which pools to load: V2 pairs with their fee, V3 pool addresses, Balancer pool ids."""

    v2: tuple[V2Source, ...] = ()
    v3: tuple[str, ...] = ()
    balancer: tuple[BalancerSource, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    block: int
    block_hash: str
    entries: Mapping[StateKey, Any]

    def market_state(self, depth: int = 128) -> MarketState:
        """A MarketState at this snapshot, with the pool handlers plugged in."""
        return MarketState(
            self.entries, pool_handlers(), block=self.block, block_hash=self.block_hash, depth=depth
        )


def sources_from_manifest(manifest: Mapping[str, Any]) -> PoolSources:
    """Every pool a devnet manifest (or a config of the same shape) lists."""
    v2 = tuple(
        V2Source(pair["address"], venue["fee_bps"])
        for venue in manifest.get("uniswap_v2", [])
        for pair in venue["pairs"]
    )
    v3 = tuple(p["address"] for p in manifest.get("uniswap_v3", {}).get("pools", []))
    balancer = manifest.get("balancer_v2", {})
    pools = tuple(
        BalancerSource(balancer["vault"], p["pool_id"]) for p in balancer.get("pools", [])
    )
    return PoolSources(v2, v3, pools)


def _call(target: str, signature: str, *args: Any) -> Call:
    types = signature[signature.index("(") + 1 : -1]
    data = keccak(text=signature)[:4] + (encode(types.split(","), list(args)) if args else b"")
    return Call(target, data, allow_failure=True)


def bitmap_words(tick_spacing: int) -> range:
    """Every tickBitmap word position that can hold a usable tick at this spacing."""
    return range((MIN_TICK // tick_spacing) >> 8, ((MAX_TICK // tick_spacing) >> 8) + 1)


class _Reader:
    """Multicalls at one block; a failed call is an error naming its target.

    Calls go out `chunk` to an aggregate3 and at most `per_request` of them to one HTTP body
    (nodes cap the body: anvil refuses ~2 MB), the bodies concurrently.
    """

    def __init__(
        self, client: RpcClient, multicall_address: str, block: int, chunk: int, per_request: int
    ) -> None:
        self.client, self.address, self.block = client, multicall_address, block
        self.chunk, self.per_request = chunk, max(chunk, per_request)

    async def read(self, calls: Sequence[Call]) -> list[bytes]:
        groups = [calls[i : i + self.per_request] for i in range(0, len(calls), self.per_request)]
        answers = await asyncio.gather(
            *(
                multicall(self.client, self.address, g, block=self.block, chunk_size=self.chunk)
                for g in groups
            )
        )
        results = [r for answer in answers for r in answer]
        for call, result in zip(calls, results, strict=True):
            if not result.success:
                raise SnapshotError(
                    f"0x{call.calldata[:4].hex()} on {call.target} failed at block {self.block}"
                )
        return [r.data for r in results]


async def load_pools(
    client: RpcClient,
    multicall_address: str,
    sources: PoolSources,
    *,
    block: int | str = "latest",
    chunk_size: int = 500,
    calls_per_request: int = 1_000,
) -> Snapshot:
    """Every pool in `sources` at one block (the latest unless given)."""
    number, block_hash = await _block(client, block)
    reader = _Reader(client, multicall_address, number, chunk_size, calls_per_request)
    calls = [_call(s.address, sig) for s in sources.v2 for sig in _V2_READS]
    calls += [_call(a, sig) for a in sources.v3 for sig in _V3_READS]
    calls += [c for s in sources.balancer for c in _balancer_calls(s)]
    answers = iter(await reader.read(calls))
    entries: dict[StateKey, Any] = {}
    for v2 in sources.v2:
        entries[pool_key(v2.address)] = _v2_pool(v2, _take(answers, len(_V2_READS)))
    v3_heads = [(a, _take(answers, len(_V3_READS))) for a in sources.v3]
    for bal in sources.balancer:
        entries[pool_key(bal.pool_id[:42])] = _weighted_pool(bal, _take(answers, _BALANCER_READS))
        entries[balancer_vault_key(bal.vault)] = bal.vault
    for address, (pool, gross) in zip(sources.v3, await _v3_pools(reader, v3_heads), strict=True):
        entries[pool_key(address)] = pool
        entries[liquidity_gross_key(address)] = gross
    if (await _block(client, number))[1] != block_hash:
        raise SnapshotError(f"block {number} changed from {block_hash} while loading: reorg")
    return Snapshot(number, block_hash, MappingProxyType(entries))


def _take(answers: Iterator[bytes], count: int) -> list[bytes]:
    return [next(answers) for _ in range(count)]


async def _block(client: RpcClient, block: int | str) -> tuple[int, str]:
    tag = hex(block) if isinstance(block, int) else block
    raw = await client.request("eth_getBlockByNumber", [tag, False])
    if not raw:
        raise SnapshotError(f"no block {block}")
    return int(raw["number"], 16), str(raw["hash"])


# -- Uniswap V2 ----------------------------------------------------------------------------
_V2_READS = ("getReserves()", "token0()", "token1()")


def _v2_pool(source: V2Source, raw: list[bytes]) -> V2Pool:
    reserve0, reserve1, _ = decode(["uint112", "uint112", "uint32"], raw[0])
    (token0,) = decode(["address"], raw[1])
    (token1,) = decode(["address"], raw[2])
    return V2Pool(source.address, token0, token1, reserve0, reserve1, source.fee_bps)


# -- Uniswap V3 ----------------------------------------------------------------------------
_V3_READS = ("slot0()", "liquidity()", "tickSpacing()", "fee()", "token0()", "token1()")


async def _v3_pools(
    reader: _Reader, heads: Iterable[tuple[str, list[bytes]]]
) -> list[tuple[V3Pool, Mapping[int, int]]]:
    """Each pool's slot0 and liquidity with every initialized tick: bitmap words, then ticks."""
    heads = list(heads)
    spacings = [int(decode(["int24"], raw[2])[0]) for _, raw in heads]
    word_calls = [
        (address, spacing, word)
        for (address, _), spacing in zip(heads, spacings, strict=True)
        for word in bitmap_words(spacing)
    ]
    bitmaps = await reader.read([_call(a, "tickBitmap(int16)", w) for a, _, w in word_calls])
    ticks: dict[str, list[int]] = {address: [] for address, _ in heads}
    for (address, spacing, word), raw in zip(word_calls, bitmaps, strict=True):
        bits = int.from_bytes(raw, "big")
        while bits:
            low = bits & -bits
            ticks[address].append(((word << 8) + low.bit_length() - 1) * spacing)
            bits ^= low
    tick_calls = [(a, t) for a, ts in ticks.items() for t in ts]
    infos = iter(await reader.read([_call(a, "ticks(int24)", t) for a, t in tick_calls]))
    out: list[tuple[V3Pool, Mapping[int, int]]] = []
    for (address, head), spacing in zip(heads, spacings, strict=True):
        nets, grosses = {}, {}
        for tick in ticks[address]:
            gross, net, *_, initialized = decode(_TICK_INFO, next(infos))
            if not initialized or gross == 0:
                raise SnapshotError(f"V3 pool {address}: bitmap tick {tick} is not initialized")
            nets[tick], grosses[tick] = net, gross
        out.append((_v3_pool(address, spacing, head, nets), MappingProxyType(grosses)))
    return out


def _v3_pool(address: str, spacing: int, raw: list[bytes], nets: dict[int, int]) -> V3Pool:
    sqrt_price, tick = decode(["uint160", "int24"], raw[0][:64])
    (liquidity,) = decode(["uint128"], raw[1])
    (fee,) = decode(["uint24"], raw[3])
    (token0,) = decode(["address"], raw[4])
    (token1,) = decode(["address"], raw[5])
    return V3Pool(address, token0, token1, fee, spacing, sqrt_price, tick, liquidity, nets)


# -- Balancer V2 ---------------------------------------------------------------------------
_BALANCER_READS = 4


def _balancer_calls(source: BalancerSource) -> list[Call]:
    pool = source.pool_id[:42]
    return [
        _call(source.vault, "getPoolTokens(bytes32)", bytes.fromhex(source.pool_id[2:])),
        _call(pool, "getNormalizedWeights()"),
        _call(pool, "getSwapFeePercentage()"),
        _call(pool, "getScalingFactors()"),
    ]


def _weighted_pool(source: BalancerSource, raw: list[bytes]) -> WeightedPool:
    tokens, balances, _ = decode(["address[]", "uint256[]", "uint256"], raw[0])
    (weights,) = decode(["uint256[]"], raw[1])
    (swap_fee,) = decode(["uint256"], raw[2])
    (scaling,) = decode(["uint256[]"], raw[3])
    return WeightedPool(
        pool_id=source.pool_id.lower(),
        address=to_checksum_address(source.pool_id[:42]),
        tokens=tuple(tokens),
        balances=tuple(balances),
        weights=tuple(weights),
        scaling_factors=tuple(scaling),
        swap_fee=swap_fee,
    )
