"""A real chain's market, discovered from its chain config by reading the chain at one block.

The config names only entry points (Aave Pool and PoolAddressesProvider, Venus Comptroller, DEX
factories, Balancer vault, wrapped native, Multicall3); the rest is read, every call pinned to
one block, a few batched multicall rounds:
  Aave   Pool.getReservesList -> getReserveData (aToken, debt tokens; decimals and id in the
         configuration word); PoolAddressesProvider.getPool / getPriceOracle; the oracle's
         getSourceOfAsset; FLASHLOAN_PREMIUM_TOTAL; the e-mode categories that exist (1..32).
  Venus  Comptroller.getAllMarkets -> underlying, decimals, initialExchangeRateMantissa (VToken
         storage slot 7); oracle, closeFactorMantissa, treasuryPercent (the redeem fee; the
         state reads and follows it too); the feed behind the ResilientOracle:
         getOracle(asset, MAIN) -> ChainlinkOracle.tokenConfigs(asset).
  feeds  AnswerUpdated comes from a Chainlink proxy's aggregator(), or from the feed itself when
         it has none (the devnet's settable feeds).
  DEX    getPair (V2 factories) and getPool at the standard fee tiers (V3 factories) for every
         pair among the lending assets and the wrapped native; V3 pools without liquidity are
         left out. Balancer pools are not enumerable: the vault serves as a flash-loan source.
A ChainMarket is a DevnetMarket whose manifest-shaped mapping was built from the chain, so the
strategies, the report and the runner take either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from eth_abi import decode
from eth_utils import to_checksum_address

from tallyio.app.config import ChainConfig, LendingConfig
from tallyio.app.devnet_market import DevnetMarket
from tallyio.chain.multicall import Call, multicall
from tallyio.chain.rpc import RpcClient
from tallyio.core.events import Block
from tallyio.protocols.aave_v3 import decode_reserve_configuration
from tallyio.protocols.venus_liquidator import VenusLiquidator
from tallyio.state.pool_loader import load_pools, sources_from_manifest
from tallyio.state.pools import pool_handlers
from tallyio.state.position_loader import calldata, discover_accounts, load_snapshot
from tallyio.state.positions import (
    AaveMarketRef,
    AaveReserveRef,
    VenusMarketRef,
    VenusRef,
    lending_handlers,
    merge_handlers,
)
from tallyio.state.prices import PriceTarget
from tallyio.state.store import MarketState

V3_FEE_TIERS = (100, 500, 3000, 10_000)  # Uniswap V3's enabled fee tiers (hundredths of a bp)
EMODE_PROBE = range(1, 33)  # Aave keeps no list of e-mode categories: probe the low ids
INITIAL_EXCHANGE_RATE_SLOT = 7  # VTokenStorage.initialExchangeRateMantissa
MAIN_ORACLE = 0  # ResilientOracle.OracleRole.MAIN
ZERO = "0x" + "00" * 20


class DiscoveryError(RuntimeError):
    """The chain does not hold what the config says (wrong address, wrong chain, no node)."""


@dataclass(frozen=True, slots=True)
class ChainMarket(DevnetMarket):
    """A DevnetMarket read from a chain config; accounts are found in logs from `scan_from`."""

    scan_from: int = 0
    notes: tuple[str, ...] = ()  # what discovery skipped, for the operator

    async def load_state(self, client: RpcClient, head: Block) -> MarketState:
        aave = [self.aave] if self.aave.pool else []
        venus = [self.venus] if self.venus.comptroller else []
        aave_in = [
            (r, await discover_accounts(client, r, self.scan_from, head.number)) for r in aave
        ]
        venus_in = [
            (r, await discover_accounts(client, r, self.scan_from, head.number)) for r in venus
        ]
        multicall_address = str(self.manifest["multicall"])
        positions = await load_snapshot(
            client, block=head.number, multicall_address=multicall_address,
            aave_markets=aave_in, venus_markets=venus_in, feeds=[t.feed for t in self.targets],
        )  # fmt: skip
        pools = await load_pools(
            client, multicall_address, sources_from_manifest(self.manifest), block=head.number
        )
        handlers = merge_handlers(pool_handlers(), lending_handlers(aave, venus, self.targets))
        return MarketState({**pools.entries, **positions}, handlers, block=head.number,
                           block_hash=head.hash)  # fmt: skip


class _Reader:
    """Multicall3 reads at one block; a failed call answers None (probes fail on purpose)."""

    def __init__(self, client: RpcClient, multicall_address: str, block: int) -> None:
        self.client, self.address, self.block = client, multicall_address, block

    async def read(self, calls: Sequence[tuple[str, bytes]]) -> list[bytes | None]:
        if not calls:
            return []
        got = await multicall(self.client, self.address, [Call(t, d) for t, d in calls],
                              block=self.block)  # fmt: skip
        return [r.data if r.success and r.data else None for r in got]

    async def need(self, calls: Sequence[tuple[str, bytes]]) -> list[bytes]:
        out = []
        for (target, data), raw in zip(calls, await self.read(calls), strict=True):
            if raw is None:
                raise DiscoveryError(f"0x{data[:4].hex()} on {target} failed at block {self.block}")
            out.append(raw)
        return out

    async def storage(self, slots: Sequence[tuple[str, int]]) -> list[int]:
        tag = hex(self.block)
        return [int(str(await self.client.request("eth_getStorageAt", [a, hex(s), tag])), 16)
                for a, s in slots]  # fmt: skip


def _address(raw: bytes | None) -> str:
    return "" if raw is None else str(decode(["address"], raw)[0]).lower()


def _uint(raw: bytes) -> int:
    return int.from_bytes(raw[:32], "big")


def _symbol(raw: bytes | None, token: str) -> str:
    if raw is None:
        return token[:10]
    try:
        return str(decode(["string"], raw)[0]) or token[:10]
    except Exception:  # some old tokens (MKR) answer bytes32
        return raw[:32].rstrip(b"\0").decode(errors="replace") or token[:10]


def _first(chain: ChainConfig, kind: str) -> LendingConfig | None:
    found = [x for x in chain.lending if x.kind == kind and x.enabled]
    return found[0] if found else None


async def discover_market(
    client: RpcClient, chain: ChainConfig, block: int, *, scan_from: int = 0
) -> ChainMarket:
    """The market `chain` names, read at `block`."""
    r = _Reader(client, chain.multicall3, block)
    notes: list[str] = []
    aave_cfg, venus_cfg = _first(chain, "aave_v3"), _first(chain, "venus")
    aave, aave_m, aave_targets = await _aave(r, aave_cfg) if aave_cfg else _no_aave()
    venus, venus_m, venus_targets = await _venus(r, venus_cfg, notes) if venus_cfg else _no_venus()
    weth = chain.wrapped_native.lower()
    assets = {weth} | {x.asset for x in aave.reserves} | {m.underlying for m in venus.markets}
    tokens = await _tokens(r, sorted(assets))
    decimals = {a: d for a, (_, d) in tokens.items()}
    manifest: dict[str, Any] = {
        "chain_id": chain.chain_id, "rpc_url": chain.rpc_urls[0], "multicall": chain.multicall3,
        "tokens": _by_symbol(tokens), "aave_v3": aave_m, "venus": venus_m,
        "balancer_v2": await _balancer(r, chain),
        **await _dex(r, chain, sorted(assets)),
    }  # fmt: skip
    liquidator = await _venus_liquidator(r, venus_cfg, venus.comptroller, notes)
    return ChainMarket(manifest, chain.chain_id, aave, venus, (*aave_targets, *venus_targets),
                       weth, decimals, venus_liquidator=liquidator, scan_from=scan_from,
                       notes=tuple(notes))  # fmt: skip


def _no_aave() -> tuple[AaveMarketRef, dict[str, Any], list[PriceTarget]]:
    return AaveMarketRef("", ()), {"pool": "", "reserves": {}}, []


def _no_venus() -> tuple[VenusRef, dict[str, Any], list[PriceTarget]]:
    return VenusRef("", ()), {"comptroller": "", "close_factor": 0, "treasury_percent": 0,
                              "markets": {}}, []  # fmt: skip


async def _tokens(r: _Reader, assets: Sequence[str]) -> dict[str, tuple[str, int]]:
    calls = [(a, calldata(s)) for a in assets for s in ("symbol()", "decimals()")]
    got = await r.read(calls)
    out = {}
    for i, a in enumerate(assets):
        if got[2 * i + 1] is None:
            raise DiscoveryError(f"token {a}: decimals() failed at block {r.block}")
        out[a] = (_symbol(got[2 * i], a), _uint(got[2 * i + 1] or b""))
    return out


def _by_symbol(tokens: dict[str, tuple[str, int]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for address, (symbol, _) in tokens.items():
        key = symbol if symbol not in out else f"{symbol}.{address[2:8]}"
        out[key] = to_checksum_address(address)
    return out


# -- Aave V3 ------------------------------------------------------------------------------------
async def _aave(
    r: _Reader, cfg: LendingConfig
) -> tuple[AaveMarketRef, dict[str, Any], list[PriceTarget]]:
    pool, provider = str(cfg.pool).lower(), str(cfg.addresses_provider).lower()
    head = await r.need([(pool, calldata("getReservesList()")), (provider, calldata("getPool()")),
                         (provider, calldata("getPriceOracle()")),
                         (pool, calldata("FLASHLOAN_PREMIUM_TOTAL()")),
                         (provider, calldata("getPoolConfigurator()"))])  # fmt: skip
    if _address(head[1]) != pool:
        raise DiscoveryError(f"{cfg.name}: provider {provider} names pool {_address(head[1])}")
    (assets,) = decode(["address[]"], head[0])
    assets, oracle = [str(a).lower() for a in assets], _address(head[2])
    calls = [(pool, calldata("getReserveData(address)", a)) for a in assets]
    calls += [(oracle, calldata("getSourceOfAsset(address)", a)) for a in assets]
    calls += [(pool, calldata("getEModeCategoryData(uint8)", c)) for c in EMODE_PROBE]
    got = await r.read(calls)
    n, reserves, sections = len(assets), [], {}
    for i, a in enumerate(assets):
        raw = got[i]
        if raw is None:
            raise DiscoveryError(f"{cfg.name}: getReserveData({a}) failed at block {r.block}")
        w = [raw[k : k + 32] for k in range(0, len(raw), 32)]
        ref = AaveReserveRef(a, _address(w[8]), _address(w[10]), _address(w[9]))
        reserves.append(ref)
        decimals = decode_reserve_configuration(_uint(w[0])).decimals
        sections[a] = {"asset": a, "decimals": decimals, "a_token": ref.a_token,
                       "variable_debt_token": ref.variable_debt_token,
                       "stable_debt_token": ref.stable_debt_token}  # fmt: skip
    emodes = tuple(c for c, raw in zip(EMODE_PROBE, got[2 * n :], strict=True)
                   if raw is not None and _uint(raw[32:64]) > 0)  # fmt: skip
    feeds = await _event_sources(r, [_address(x) for x in got[n : 2 * n]])
    targets = [PriceTarget(f, "aave_v3", pool, a) for a, (f, _) in zip(assets, feeds, strict=True)
               if f]  # fmt: skip
    aref = AaveMarketRef(pool, tuple(reserves), oracle=oracle, emode_categories=emodes,
                         configurator=_address(head[4]))  # fmt: skip
    section = {"pool": pool, "oracle": oracle, "flashloan_premium_bps": _uint(head[3]),
               "reserves": sections}  # fmt: skip
    return aref, section, targets


async def _event_sources(r: _Reader, feeds: Sequence[str]) -> list[tuple[str, int]]:
    """(the contract that emits AnswerUpdated for each feed, the feed's decimals); '' if none."""
    calls = [(f or ZERO, calldata(s)) for f in feeds for s in ("aggregator()", "decimals()")]
    got = await r.read(calls)
    out = []
    for i, feed in enumerate(feeds):
        agg, dec = got[2 * i], got[2 * i + 1]
        if not feed or dec is None:
            out.append(("", 0))
            continue
        emitter = _address(agg) if agg is not None and _address(agg) != ZERO else feed
        out.append((emitter, _uint(dec)))
    return out


# -- Venus ----------------------------------------------------------------------------------------
async def _venus(
    r: _Reader, cfg: LendingConfig, notes: list[str]
) -> tuple[VenusRef, dict[str, Any], list[PriceTarget]]:
    comp = str(cfg.comptroller).lower()
    head = await r.need([(comp, calldata(s)) for s in
                         ("getAllMarkets()", "oracle()", "closeFactorMantissa()",
                          "treasuryPercent()")])  # fmt: skip
    (vtokens,) = decode(["address[]"], head[0])
    vtokens, oracle = [str(v).lower() for v in vtokens], _address(head[1])
    under = [_address(x) for x in await r.read([(v, calldata("underlying()")) for v in vtokens])]
    for v, u in zip(vtokens, under, strict=True):
        if not u:
            notes.append(f"venus market {v} has no underlying() (native): skipped")
    listed = [(v, u) for v, u in zip(vtokens, under, strict=True) if u]
    decs = await r.need([(u, calldata("decimals()")) for _, u in listed])
    rates = await r.storage([(v, INITIAL_EXCHANGE_RATE_SLOT) for v, _ in listed])
    markets = tuple(VenusMarketRef(v, u, _uint(d), rate)
                    for (v, u), d, rate in zip(listed, decs, rates, strict=True))  # fmt: skip
    feeds = await _venus_feeds(r, oracle, [u for _, u in listed])
    targets = []
    for m, (feed, feed_decimals) in zip(markets, feeds, strict=True):
        if not feed:
            notes.append(f"venus market {m.vtoken}: no Chainlink feed found; price read at start")
            continue
        targets.append(PriceTarget(feed, "venus", comp, m.vtoken, feed_decimals, m.decimals))
    if _uint(head[3]):
        notes.append(f"venus: every redeem pays the treasury {_uint(head[3])} / 1e18")
    section = {"comptroller": comp, "oracle": oracle, "close_factor": _uint(head[2]),
               "treasury_percent": _uint(head[3]),
               "markets": {m.vtoken: {"vtoken": m.vtoken, "underlying": m.underlying,
                                      "underlying_decimals": m.decimals,
                                      "initial_exchange_rate": m.initial_exchange_rate}
                           for m in markets}}  # fmt: skip
    return VenusRef(comp, markets, oracle=oracle), section, targets


async def _venus_liquidator(
    r: _Reader, cfg: LendingConfig | None, comptroller: str, notes: list[str]
) -> VenusLiquidator | None:
    """The Liquidator the config names, checked against the comptroller's liquidatorContract,
    with its treasuryPercentMantissa; None when the config names none."""
    if cfg is None or not comptroller:
        return None
    (named,) = await r.need([(comptroller, calldata("liquidatorContract()"))])
    on_chain = _address(named)
    if not cfg.liquidator:
        if on_chain != ZERO:
            notes.append(
                f"venus: the comptroller only lets {on_chain} liquidate; config names none"
            )
        return None
    liquidator = cfg.liquidator.lower()
    if on_chain not in (ZERO, liquidator):
        raise DiscoveryError(f"{cfg.name}: comptroller's liquidatorContract is {on_chain}, "
                             f"config names {liquidator}")  # fmt: skip
    (percent,) = await r.need([(liquidator, calldata("treasuryPercentMantissa()"))])
    return VenusLiquidator(liquidator, _uint(percent))


async def _venus_feeds(
    r: _Reader, oracle: str, underlyings: Sequence[str]
) -> list[tuple[str, int]]:
    """ResilientOracle -> its MAIN oracle per asset -> a ChainlinkOracle's feed, if it is one."""
    mains = await r.read([(oracle, calldata("getOracle(address,uint8)", u, MAIN_ORACLE))
                          for u in underlyings])  # fmt: skip
    calls = [(_address(m) or ZERO, calldata("tokenConfigs(address)", u))
             for m, u in zip(mains, underlyings, strict=True)]  # fmt: skip
    configs = await r.read(calls)
    feeds = [_address(c[32:64]) if c is not None and len(c) >= 64 else "" for c in configs]
    return await _event_sources(r, [f if f != ZERO else "" for f in feeds])


# -- DEX and flash loans --------------------------------------------------------------------------
async def _balancer(r: _Reader, chain: ChainConfig) -> dict[str, Any]:
    vaults = [s.address for s in chain.flash_loans if s.kind == "balancer_v2"]
    vaults += [str(d.vault) for d in chain.dex if d.kind == "balancer_v2" and d.enabled]
    if not vaults:
        return {}
    vault = vaults[0].lower()
    (collector,) = await r.need([(vault, calldata("getProtocolFeesCollector()"))])
    (fee,) = await r.need([(_address(collector), calldata("getFlashLoanFeePercentage()"))])
    return {"vault": vault, "flash_loan_fee_percentage": _uint(fee), "pools": []}


async def _dex(r: _Reader, chain: ChainConfig, assets: Sequence[str]) -> dict[str, Any]:
    pairs = list(combinations(assets, 2))
    v2 = [d for d in chain.dex if d.kind == "uniswap_v2" and d.enabled]
    v3 = [d for d in chain.dex if d.kind == "uniswap_v3" and d.enabled]
    calls = [(str(d.factory), calldata("getPair(address,address)", a, b))
             for d in v2 for a, b in pairs]  # fmt: skip
    calls += [(str(d.factory), calldata("getPool(address,address,uint24)", a, b, fee))
              for d in v3 for a, b in pairs for fee in V3_FEE_TIERS]  # fmt: skip
    found = [_address(x) for x in await r.read(calls)]
    venues = []
    for i, d in enumerate(v2):
        got = [a for a in found[i * len(pairs) : (i + 1) * len(pairs)] if a and a != ZERO]
        listed = [{"address": to_checksum_address(a)} for a in got]
        venues.append({"name": d.name, "fee_bps": d.fee_bps, "pairs": listed})
    v3_pools = sorted({a for a in found[len(v2) * len(pairs) :] if a and a != ZERO})
    liquid = await r.read([(a, calldata("liquidity()")) for a in v3_pools])
    live = [a for a, x in zip(v3_pools, liquid, strict=True) if x and _uint(x)]
    pools = [{"address": to_checksum_address(a)} for a in live]
    return {"uniswap_v2": venues, "uniswap_v3": {"pools": pools}}
