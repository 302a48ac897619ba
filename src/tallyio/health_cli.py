"""`tallyio health`: every account of one lending market, with its exact health factor.

Accounts come from the market's own logs (eth_getLogs from --from-block), balances from one
batch of reads pinned to the head block, and the health factor from the exact model:
Aave V3 GenericLogic.calculateUserAccountData; for Venus, which has no on-chain HF,
HF = liquidation-threshold-weighted collateral * 1e18 // debt (getAccountLiquidity's sums).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from eth_abi import decode

from tallyio.chain import ChainError, build_client
from tallyio.chain.rpc import RpcClient
from tallyio.state.health import aave_account_data, venus_health
from tallyio.state.position_loader import (
    LoadError,
    Reader,
    calldata,
    discover_accounts,
    load_snapshot,
)
from tallyio.state.positions import (
    AaveMarketRef,
    AaveReserveRef,
    VenusMarketRef,
    VenusRef,
    aave_inputs,
    account_key,
    venus_assets,
)

EMODE_IDS = tuple(range(1, 9))
HELP = (
    "Health factors (1e18-scaled) of a lending market's accounts, exact to the wei. "
    "Aave V3: getUserAccountData's health factor. Venus: HF = liquidation-threshold-weighted "
    "collateral * 1e18 / debt (getAccountLiquidity's sums; < 1e18 means shortfall)."
)


class HealthError(RuntimeError):
    """A clear, user-facing failure (bad market, unreachable node)."""


def add_health_parser(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser("health", help=HELP, description=HELP)
    p.add_argument("--rpc", required=True, help="JSON-RPC URL")
    p.add_argument("--protocol", required=True, choices=("aave_v3", "venus"))
    p.add_argument("--market", required=True, help="Aave Pool or Venus Comptroller address")
    p.add_argument("--below", type=float, default=None, help="only HF below this (e.g. 1.05)")
    p.add_argument("--json", action="store_true", help="JSON list instead of a table")
    p.add_argument("--from-block", type=int, default=0, help="first block to scan for accounts")
    p.set_defaults(handler=run_health)
    return p


async def aave_ref(client: RpcClient, pool: str, block: int) -> AaveMarketRef:
    r = Reader(client, block)
    (assets,) = decode(["address[]"], (await r.calls([(pool, calldata("getReservesList()"))]))[0])
    if not assets:
        raise HealthError(f"{pool} lists no reserves: not an Aave V3 pool")
    got = await r.words([(pool, calldata("getReserveData(address)", a)) for a in assets])
    reserves = tuple(
        AaveReserveRef(a.lower(), f"0x{w[8]:040x}", f"0x{w[10]:040x}", f"0x{w[9]:040x}")
        for a, w in zip(assets, got, strict=True)
    )
    (provider,) = (await r.words([(pool, calldata("ADDRESSES_PROVIDER()"))]))[0]
    (oracle,) = (await r.words([(f"0x{provider:040x}", calldata("getPriceOracle()"))]))[0]
    return AaveMarketRef(pool.lower(), reserves, f"0x{oracle:040x}", EMODE_IDS)


async def venus_ref(client: RpcClient, comptroller: str, block: int) -> VenusRef:
    r = Reader(client, block)
    raw = await r.calls(
        [(comptroller, calldata("getAllMarkets()")), (comptroller, calldata("oracle()"))]
    )
    (vtokens,) = decode(["address[]"], raw[0])
    if not vtokens:
        raise HealthError(f"{comptroller} lists no markets: not a Venus Comptroller")
    underlying = [w[0] for w in await r.words([(v, calldata("underlying()")) for v in vtokens])]
    decimals = await r.words([(f"0x{u:040x}", calldata("decimals()")) for u in underlying])
    markets = tuple(
        VenusMarketRef(v.lower(), f"0x{u:040x}", d[0], 0)
        for v, u, d in zip(vtokens, underlying, decimals, strict=True)
    )  # fmt: skip
    return VenusRef(comptroller.lower(), markets, f"0x{int(raw[1].hex(), 16):040x}")


async def collect(args: argparse.Namespace) -> list[dict[str, Any]]:
    client = build_client(args.rpc, timeout=15.0)
    try:
        block = int(await client.request("eth_blockNumber"), 16)
        ref: AaveMarketRef | VenusRef
        if args.protocol == "aave_v3":
            ref = await aave_ref(client, args.market, block)
        else:
            ref = await venus_ref(client, args.market, block)
        accounts = await discover_accounts(client, ref, args.from_block, block)
        if isinstance(ref, AaveMarketRef):
            snap = await load_snapshot(client, block=block, aave_markets=[(ref, accounts)])
            return _aave_rows(snap, ref, accounts, snap[("clock",)][1])
        snap = await load_snapshot(client, block=block, venus_markets=[(ref, accounts)])
        return _venus_rows(snap, ref, accounts)
    finally:
        await client.close()


def _aave_rows(
    snap: dict[Any, Any], ref: AaveMarketRef, accounts: Sequence[str], ts: int
) -> list[dict[str, Any]]:
    reserves, emodes = aave_inputs(snap.get, ref)
    out = []
    for a in accounts:
        data = aave_account_data(reserves, emodes, snap.get, ref, a, ts)
        out.append(_row(a, data.health_factor, data.total_collateral_base, data.total_debt_base))
    return out


def _venus_rows(
    snap: dict[Any, Any], ref: VenusRef, accounts: Sequence[str]
) -> list[dict[str, Any]]:
    out = []
    for a in accounts:
        account = snap.get(account_key("venus", ref.comptroller, a))
        hf, coll, debt = venus_health(venus_assets(snap.get, ref, account) if account else [])
        out.append(_row(a, hf, coll, debt))
    return out


def _row(account: str, hf: int, coll: int, debt: int) -> dict[str, Any]:
    return {
        "account": account,
        "health_factor": str(hf),
        "collateral_base": str(coll),
        "debt_base": str(debt),
    }


def select(rows: list[dict[str, Any]], below: float | None) -> list[dict[str, Any]]:
    if below is not None:
        limit = int(below * 10**18)
        rows = [r for r in rows if int(r["health_factor"]) < limit]
    return sorted(rows, key=lambda r: (int(r["health_factor"]), r["account"]))


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'account':<42}  {'health factor':>16}  {'collateral':>26}  {'debt':>26}"]
    for r in rows:
        hf = int(r["health_factor"])
        shown = "inf" if hf >= 2**255 else f"{hf / 1e18:.6f}"
        lines.append(
            f"{r['account']:<42}  {shown:>16}  {r['collateral_base']:>26}  {r['debt_base']:>26}"
        )
    return "\n".join(lines)


def run_health(args: argparse.Namespace) -> int:
    try:
        rows = select(asyncio.run(collect(args)), args.below)
    except HealthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LoadError as exc:
        print(
            f"error: {args.market} does not answer as a {args.protocol} market: {exc}",
            file=sys.stderr,
        )
        return 2
    except ChainError as exc:
        print(f"error: cannot reach the RPC at {args.rpc}: {exc}", file=sys.stderr)
        return 3
    print(json.dumps(rows, indent=1) if args.json else table(rows))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tallyio")
    sub = parser.add_subparsers(dest="command", required=True)
    add_health_parser(sub)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
