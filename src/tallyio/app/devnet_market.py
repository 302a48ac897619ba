"""A devnet's market as the engine sees it: refs, the state snapshot, prices, the executor.

Everything comes from the devnet's manifest (the addresses `tallyio devnet up` deployed) and
from the chain, read once at one block; after that the state moves only by events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tallyio.chain.rpc import RpcClient
from tallyio.core.events import Block
from tallyio.core.opportunity import BlockContext
from tallyio.protocols.venus_liquidator import VenusLiquidator
from tallyio.state.pool_loader import load_pools, sources_from_manifest
from tallyio.state.pools import pool_handlers
from tallyio.state.position_loader import discover_accounts, load_snapshot, refs_from_manifest
from tallyio.state.positions import AaveMarketRef, VenusRef, lending_handlers, merge_handlers
from tallyio.state.prices import PriceTarget, price_key
from tallyio.state.store import MarketState, StateView

GWEI = 10**9


@dataclass(frozen=True, slots=True)
class DevnetMarket:
    manifest: Mapping[str, Any]
    chain_id: int
    aave: AaveMarketRef
    venus: VenusRef
    targets: tuple[PriceTarget, ...]
    weth: str  # lowercase
    decimals: Mapping[str, int]  # lowercase token -> decimals
    # Venus liquidations go through this Liquidator when set: a chain config names it; on the
    # devnet (deployed, not set on the comptroller) only a test that sets it passes it here.
    venus_liquidator: VenusLiquidator | None = None

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> DevnetMarket:
        aref, vref, targets = refs_from_manifest(dict(manifest))
        tokens = {s: a.lower() for s, a in manifest["tokens"].items()}
        decimals = {
            r["asset"].lower(): int(r.get("decimals", 18))
            for r in manifest["aave_v3"]["reserves"].values()
        }
        for m in manifest["venus"]["markets"].values():
            decimals.setdefault(m["underlying"].lower(), int(m["underlying_decimals"]))
        return cls(manifest, int(manifest["chain_id"]), aref, vref, tuple(targets),
                   tokens["WETH"], decimals)  # fmt: skip

    def symbol_of(self, token: str) -> str:
        """A token's (or a Venus vToken's underlying's) symbol, for display."""
        for m in self.manifest["venus"]["markets"].values():
            if m["vtoken"].lower() == token.lower():
                token = m["underlying"]
        return self.symbol(token)

    def symbol(self, token: str) -> str:
        for s, a in self.manifest["tokens"].items():
            if a.lower() == token.lower():
                return str(s)
        return token[:10]

    # -- state ----------------------------------------------------------------------------------
    async def load_state(self, client: RpcClient, head: Block) -> MarketState:
        """Every pool and lending position at `head`, with the handlers that keep them."""
        aave_accounts = await discover_accounts(client, self.aave, 0, head.number)
        venus_accounts = await discover_accounts(client, self.venus, 0, head.number)
        multicall = str(self.manifest["multicall"])
        positions = await load_snapshot(
            client, block=head.number, multicall_address=multicall,
            aave_markets=[(self.aave, aave_accounts)], venus_markets=[(self.venus, venus_accounts)],
            feeds=[t.feed for t in self.targets],
        )  # fmt: skip
        pools = await load_pools(
            client, multicall, sources_from_manifest(self.manifest), block=head.number
        )
        handlers = merge_handlers(
            pool_handlers(), lending_handlers([self.aave], [self.venus], self.targets)
        )
        entries = {**pools.entries, **positions}
        return MarketState(entries, handlers, block=head.number, block_hash=head.hash)

    # -- prices ---------------------------------------------------------------------------------
    def eth_prices(self, view: StateView) -> dict[str, int]:
        """Base units of each Aave reserve's token worth one ETH, from the oracle prices."""
        weth_usd = view.get(price_key("aave_v3", self.aave.pool, self.weth))
        if not weth_usd:
            return {}
        out = {}
        for r in self.aave.reserves:
            usd = view.get(price_key("aave_v3", self.aave.pool, r.asset))
            if usd:
                out[r.asset] = weth_usd * 10 ** self.decimals.get(r.asset, 18) // usd
        return out

    def usd(self, view: StateView, token: str, amount: int) -> float:
        """Display only: `amount` base units of `token` in US dollars at the oracle price."""
        usd = view.get(price_key("aave_v3", self.aave.pool, token.lower())) or 0
        return amount * usd / 1e8 / 10 ** self.decimals.get(token.lower(), 18)

    def context(self, priority_fee: int = GWEI) -> Any:
        def build(block: Block, view: StateView) -> BlockContext:
            base_fee, prices = block.base_fee or 0, self.eth_prices(view)
            return BlockContext(
                self.chain_id, block.number, block.timestamp, base_fee, priority_fee, prices
            )

        return build
