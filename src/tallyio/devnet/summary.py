"""A readable summary of a devnet manifest (what `devnet up` and the demo print)."""

from __future__ import annotations

from typing import Any


def _short(address: str) -> str:
    return f"{address[:8]}…{address[-4:]}"


def _tokens(m: dict[str, Any]) -> list[str]:
    return [f"  {sym:<5} {_short(addr)}" for sym, addr in m.get("tokens", {}).items()]


def _v2(m: dict[str, Any]) -> list[str]:
    lines = []
    for venue in m.get("uniswap_v2", []):
        pairs = ", ".join(f"{p['symbol0']}/{p['symbol1']}" for p in venue["pairs"])
        lines.append(f"  {venue['name']:<12} factory {_short(venue['factory'])}  pairs: {pairs}")
    return lines


def _v3(m: dict[str, Any]) -> list[str]:
    v3 = m.get("uniswap_v3")
    if not v3:
        return []
    pools = ", ".join(f"{p['symbol0']}/{p['symbol1']}@{p['fee']}" for p in v3["pools"])
    return [f"  uniswap_v3   factory {_short(v3['factory'])}  pools: {pools}"]


def _balancer(m: dict[str, Any]) -> list[str]:
    bal = m.get("balancer_v2")
    if not bal:
        return []
    pools = ", ".join("/".join(p.get("symbols", [])) for p in bal.get("pools", []))
    return [f"  balancer_v2  vault {_short(bal['vault'])}  weighted pools: {pools}"]


def _lending(m: dict[str, Any]) -> list[str]:
    lines = []
    aave = m.get("aave_v3")
    if aave:
        reserves = ", ".join(aave.get("reserves", {}))
        lines.append(f"  aave_v3      pool {_short(aave['pool'])}  reserves: {reserves}")
    venus = m.get("venus")
    if venus:
        markets = ", ".join(venus.get("vtokens", {}))
        lines.append(
            f"  venus        comptroller {_short(venus['comptroller'])}  markets: {markets}"
        )
    for protocol, accounts in m.get("borrowers", {}).items():
        lines.append(f"  {protocol:<12} {len(accounts)} seeded borrowers near liquidation")
    return lines


def render_summary(manifest: dict[str, Any]) -> str:
    head = (
        f"TallyIO devnet: chain {manifest['chain_id']} at {manifest['rpc_url']} "
        f"(pid {manifest['pid']}, block {manifest.get('block_number', '?')})"
    )
    sections = [
        ("Tokens", _tokens(manifest)),
        ("DEXes", _v2(manifest) + _v3(manifest) + _balancer(manifest)),
        ("Lending", _lending(manifest)),
    ]
    out = [head]
    for title, lines in sections:
        if lines:
            out += ["", title, *lines]
    return "\n".join(out)
