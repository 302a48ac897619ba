"""A synthetic long tail of Uniswap V2 pools around a devnet's real hub tokens.

Shaped as liquidity-pruned DEX markets are: a few hubs (here the devnet's Aave reserves: WETH,
USDC, DAI, WBTC, with the devnet's real pools between them) and a long tail of tokens that
each trade against one hub (85%), two (12%) or three (3%), on one venue (75%) or two; 3% of
the pools join two tail tokens. So 10,000 pools hold about 7,000 tail tokens, as real graphs
have about one and a half pools per token.

Each tail token gets a price in ETH once; each pool holds 1-100 ETH worth a side (log-uniform;
the devnet's real pools hold hundreds), at that price within +-0.2%, so no cycle through the
tail pays until an event moves a pool, and a real dislocation pays most through real pools.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tallyio.protocols.uniswap_v2 import V2Pool
from tallyio.state.pools import pool_key

ETH = 10**18
HUB_COUNTS = ((1, 2, 3), (85, 12, 3))  # hubs per tail token, and their weights
VENUES = ((1, 2), (75, 25))  # venues per (hub, token) pair
TAIL_PAIRS = 0.03  # share of pools joining two tail tokens
NOISE = 0.002  # each pool's price within this of the token's


def _address(kind: int, n: int) -> str:
    return f"0x{kind:02x}{n:038x}"


def _pool(n: int, a: str, b: str, per_eth: Mapping[str, float], rng: random.Random) -> V2Pool:
    value = 10 ** rng.uniform(0, 2) * (1 + rng.uniform(-NOISE, NOISE) / 2)
    t0, t1 = sorted((a, b))
    r0 = int(value * per_eth[t0])
    r1 = int(value * per_eth[t1] * (1 + rng.uniform(-NOISE, NOISE) / 2))
    return V2Pool(_address(0xA2, n), t0, t1, max(r0, 1_000), max(r1, 1_000))


def tail_market(n_pools: int, hub_per_eth: Mapping[str, int], rng: random.Random) -> dict[Any, Any]:
    """`n_pools` synthetic pools keyed as state keys them; `hub_per_eth`: base units of each
    hub token worth one ETH (the oracle's, as the strategy prices them)."""
    hubs: Sequence[str] = sorted(t.lower() for t in hub_per_eth)
    per_eth: dict[str, float] = {h: float(hub_per_eth[h]) for h in hubs}
    pairs: list[tuple[str, str]] = []
    tails: list[str] = []
    while len(pairs) < n_pools * (1 - TAIL_PAIRS):
        token = _address(0xA1, len(tails))
        tails.append(token)
        per_eth[token] = 10 ** rng.uniform(-1, 5) * ETH  # 18 decimals, 0.1 to 100,000 per ETH
        for hub in rng.sample(hubs, rng.choices(*HUB_COUNTS)[0]):
            pairs += [(hub, token)] * rng.choices(*VENUES)[0]
    while len(pairs) < n_pools and len(tails) > 1:
        a, b = rng.sample(tails, 2)
        pairs.append((a, b))
    pools = [_pool(n, a, b, per_eth, rng) for n, (a, b) in enumerate(pairs[:n_pools])]
    return {pool_key(p.address): p for p in pools}


def tail_tokens(tokens: Iterable[str]) -> int:
    """How many of `tokens` are synthetic tail tokens."""
    return sum(1 for t in tokens if t.startswith("0xa1"))
