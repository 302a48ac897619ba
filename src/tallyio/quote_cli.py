"""`tallyio quote`: a swap's exact output from the local model over freshly loaded pool state.

The pool's state is read once (pinned to one block) and the answer comes from TallyIO's own
integer model of the protocol, not from eth_call: this is the number the strategies act on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from tallyio.chain.client import build_client
from tallyio.chain.errors import ChainError, RpcError
from tallyio.chain.rpc import RpcClient
from tallyio.protocols.balancer import WeightedPool
from tallyio.protocols.uniswap_v2 import SwapError, V2Pool
from tallyio.protocols.uniswap_v3 import V3Pool
from tallyio.state.pool_loader import BalancerSource, PoolSources, V2Source, load_pools
from tallyio.state.pools import pool_key

MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
PROBES = {  # selector -> kind; tried in this order
    "0x3850c7bd": "uniswap_v3",  # slot0()
    "0x38fff2d0": "balancer_v2",  # getPoolId()
    "0x0902f1ac": "uniswap_v2",  # getReserves()
}
GET_VAULT = "0x8d928af8"


class QuoteError(RuntimeError):
    """The pool could not be identified or the swap cannot be quoted."""


async def _eth_call(client: RpcClient, to: str, data: str, block: str) -> str | None:
    try:
        result = await client.request("eth_call", [{"to": to, "data": data}, block])
    except RpcError:
        return None
    return result if isinstance(result, str) and len(result) > 2 else None


async def detect_kind(client: RpcClient, pool: str, block: str) -> str:
    for selector, kind in PROBES.items():
        if await _eth_call(client, pool, selector, block) is not None:
            return kind
    raise QuoteError(f"{pool} answers none of slot0(), getPoolId(), getReserves(): not a pool")


async def _sources(
    client: RpcClient, pool: str, kind: str, fee_bps: int, block: str
) -> PoolSources:
    if kind == "uniswap_v2":
        return PoolSources(v2=(V2Source(pool, fee_bps),))
    if kind == "uniswap_v3":
        return PoolSources(v3=(pool,))
    pool_id = await _eth_call(client, pool, "0x38fff2d0", block)
    vault = await _eth_call(client, pool, GET_VAULT, block)
    if pool_id is None or vault is None:
        raise QuoteError(f"{pool} looks like a Balancer pool but has no id or vault")
    return PoolSources(balancer=(BalancerSource("0x" + vault[-40:], pool_id),))


def _amount_out(model: Any, token_in: str, token_out: str | None, amount_in: int) -> int:
    if isinstance(model, V2Pool | V3Pool):
        return model.amount_out(token_in, amount_in)
    if isinstance(model, WeightedPool):
        others = [t for t in model.tokens if t.lower() != token_in.lower()]
        if token_out is None and len(others) != 1:
            raise QuoteError("this Balancer pool has several tokens: give --token-out")
        return model.amount_out(token_in, token_out or others[0], amount_in)
    raise QuoteError(f"no model for {type(model).__name__}")


async def quote(
    rpc: str, pool: str, token_in: str, amount_in: int, *, block: str = "latest",
    token_out: str | None = None, fee_bps: int = 30, multicall: str = MULTICALL3,
) -> dict[str, Any]:  # fmt: skip
    client = build_client([rpc])
    try:
        kind = await detect_kind(client, pool, block)
        sources = await _sources(client, pool, kind, fee_bps, block)
        snap = await load_pools(client, multicall, sources, block=block)
    finally:
        await client.close()
    key = pool_key(pool) if kind != "balancer_v2" else pool_key(sources.balancer[0].pool_id[:42])
    model = snap.entries[key]
    try:
        out = _amount_out(model, token_in, token_out, amount_in)
    except (SwapError, ValueError, ArithmeticError) as exc:
        raise QuoteError(f"the pool cannot take this swap: {exc}") from exc
    return {"amount_out": str(out), "protocol": kind, "pool": pool, "block": snap.block}


def add_quote_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "quote", help="exact swap output from the local model (not eth_call)"
    )
    p.add_argument("--rpc", required=True, help="node HTTP URL")
    p.add_argument("--pool", required=True, help="V2 pair, V3 pool or Balancer pool address")
    p.add_argument("--token-in", required=True, help="address of the token paid in")
    p.add_argument("--amount-in", required=True, type=int, help="amount in base units")
    p.add_argument("--token-out", default=None, help="for Balancer pools of 3+ tokens")
    p.add_argument("--block", default="latest", help="block number or tag (default latest)")
    p.add_argument("--fee-bps", type=int, default=30, help="V2 fork fee (Pancake: 25)")
    p.add_argument("--multicall", default=MULTICALL3, help="Multicall3-compatible address")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=handle)
    return p


def handle(args: argparse.Namespace) -> int:
    block = hex(int(args.block)) if str(args.block).isdigit() else args.block
    try:
        result = asyncio.run(
            quote(args.rpc, args.pool, args.token_in, args.amount_in, block=block,
                  token_out=args.token_out, fee_bps=args.fee_bps, multicall=args.multicall)
        )  # fmt: skip
    except (QuoteError, ChainError) as exc:
        print(f"tallyio quote: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['amount_out']} out ({result['protocol']} at block {result['block']})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tallyio")
    add_quote_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return handle(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
