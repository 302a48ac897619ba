"""The config's values: frozen dataclasses for chains, DEXes, lending markets, flash-loan
sources, the devnet and the app, with the kinds each may name (config.py loads and checks them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeVar, get_args

from tallyio.app.config_schema import did_you_mean

FeeModel = Literal["eip1559", "legacy"]
Mode = Literal["paper", "live"]
DexKind = Literal["uniswap_v2", "uniswap_v3", "solidly", "curve", "balancer_v2"]
LendingKind = Literal["aave_v3", "compound_v3", "venus"]
FlashLoanKind = Literal["balancer_v2", "aave_v3", "uniswap_v3"]
AaveVersion = Literal["3.0", "3.3"]

FEE_MODELS: tuple[str, ...] = get_args(FeeModel)
MODES: tuple[str, ...] = get_args(Mode)
DEX_KINDS: tuple[str, ...] = get_args(DexKind)
LENDING_KINDS: tuple[str, ...] = get_args(LendingKind)
FLASH_LOAN_KINDS: tuple[str, ...] = get_args(FlashLoanKind)
AAVE_VERSIONS: tuple[str, ...] = get_args(AaveVersion)

RPC_SCHEMES = ("http", "https", "ws", "wss")
WS_SCHEMES = ("ws", "wss")


@dataclass(frozen=True, slots=True)
class DexConfig:
    """One DEX deployment. Forks with the same math share a kind (sushiswap is a uniswap_v2)."""

    kind: DexKind
    name: str
    enabled: bool = True
    factory: str | None = None
    router: str | None = None
    quoter: str | None = None
    pool_deployer: str | None = None  # CREATE2 deployer when it is not the factory (PancakeSwap v3)
    vault: str | None = None
    address_provider: str | None = None
    fee_bps: int | None = None  # uniswap_v2 forks: the fixed swap fee
    init_code_hash: str | None = None  # pair/pool address = CREATE2(factory|deployer, salt, hash)


@dataclass(frozen=True, slots=True)
class LendingConfig:
    """One lending market: an Aave v3 pool, a Compound v3 Comet, or the Venus core pool."""

    kind: LendingKind
    name: str
    enabled: bool = True
    version: AaveVersion | None = None  # aave_v3 liquidation rules: "3.3" = 3.3 and later
    pool: str | None = None
    addresses_provider: str | None = None
    data_provider: str | None = None  # else PoolAddressesProvider.getPoolDataProvider()
    comet: str | None = None
    comptroller: str | None = None
    liquidator: str | None = None  # Venus core pool liquidations go through this contract


@dataclass(frozen=True, slots=True)
class FlashLoanSource:
    """Where the executor can borrow within one transaction; listed in order of preference."""

    kind: FlashLoanKind
    address: str
    fee_bps: int | None = None  # None: read the fee on chain at start-up


@dataclass(frozen=True, slots=True)
class ChainConfig:
    name: str
    chain_id: int
    native_symbol: str
    block_time: float  # seconds, nominal
    fee_model: FeeModel
    wrapped_native: str
    multicall3: str
    rpc_urls: tuple[str, ...] = ()
    ws_urls: tuple[str, ...] = ()
    dex: tuple[DexConfig, ...] = ()
    lending: tuple[LendingConfig, ...] = ()
    flash_loans: tuple[FlashLoanSource, ...] = ()

    def dex_named(self, name: str) -> DexConfig:
        return _named(self.dex, name, f"chain {self.name!r} has no dex")

    def lending_named(self, name: str) -> LendingConfig:
        return _named(self.lending, name, f"chain {self.name!r} has no lending market")


@dataclass(frozen=True, slots=True)
class DevnetConfig:
    """The local anvil devnet: its addresses come from the manifest `tallyio devnet up` writes."""

    manifest: Path
    name: str = "devnet"
    chain_id: int = 31337
    native_symbol: str = "ETH"
    block_time: float = 1.0
    fee_model: FeeModel = "eip1559"


@dataclass(frozen=True, slots=True)
class AppConfig:
    mode: Mode
    chains: tuple[ChainConfig, ...] = ()
    devnet: DevnetConfig | None = None
    source: Path | None = None

    def chain(self, name: str) -> ChainConfig:
        return _named(self.chains, name, "no chain")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_T = TypeVar("_T", bound=_Named)


def _named(items: tuple[_T, ...], name: str, what: str) -> _T:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"{what} named {name!r}{did_you_mean(name, (i.name for i in items))}")
