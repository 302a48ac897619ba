"""Chain and app config: TOML files loaded into frozen, validated objects.

    load_chain("config/chains/bsc.toml")   -> ChainConfig
    load_chains("config/chains")           -> {"bsc": ChainConfig, ...}
    load_app_config("config/devnet.toml")  -> AppConfig

Every problem is a `ConfigError` naming the file and the key. The schemas below are the single
description of each file format (docs/configuration.md explains them for people).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from tallyio.app.config_schema import (
    ConfigError,
    Loc,
    Schema,
    address,
    boolean,
    bps,
    choice,
    did_you_mean,
    field_value,
    hash32,
    identifier,
    list_of,
    opt,
    parse_kinded,
    parse_table,
    path_value,
    positive_int,
    positive_number,
    read_toml,
    req,
    string,
    table_list,
    table_of,
    url,
)
from tallyio.app.config_types import (
    AAVE_VERSIONS,
    DEX_KINDS,
    FEE_MODELS,
    FLASH_LOAN_KINDS,
    LENDING_KINDS,
    MODES,
    RPC_SCHEMES,
    WS_SCHEMES,
    AaveVersion,
    AppConfig,
    ChainConfig,
    DevnetConfig,
    DexConfig,
    DexKind,
    FeeModel,
    FlashLoanKind,
    FlashLoanSource,
    LendingConfig,
    LendingKind,
    Mode,
)

# ---------------------------------------------------------------------------------------- schemas

_COMMON: Schema = {
    "kind": req(string),  # checked against the kinds first, by parse_kinded
    "name": req(identifier),
    "enabled": opt(boolean, True),
}

DEX_SCHEMAS: Mapping[str, Schema] = {
    "uniswap_v2": {
        "factory": req(address),
        "router": opt(address),
        "fee_bps": req(bps),
        "init_code_hash": opt(hash32),
    },
    "uniswap_v3": {
        "factory": req(address),
        "pool_deployer": opt(address),
        "router": opt(address),
        "quoter": opt(address),
        "init_code_hash": opt(hash32),
    },
    "solidly": {"factory": req(address), "router": opt(address)},
    "curve": {"address_provider": req(address)},
    "balancer_v2": {"vault": req(address)},
}

LENDING_SCHEMAS: Mapping[str, Schema] = {
    "aave_v3": {
        "version": req(choice(*AAVE_VERSIONS)),
        "pool": req(address),
        "addresses_provider": req(address),
        "data_provider": opt(address),
    },
    "compound_v3": {"comet": req(address)},
    "venus": {"comptroller": req(address), "liquidator": opt(address)},
}

FLASH_LOAN_SCHEMA: Schema = {
    "kind": req(choice(*FLASH_LOAN_KINDS)),
    "address": req(address),
    "fee_bps": opt(bps),
}


def _dex(raw: Any, loc: Loc) -> DexConfig:
    return DexConfig(**parse_kinded(raw, loc, _COMMON, DEX_SCHEMAS))


def _lending(raw: Any, loc: Loc) -> LendingConfig:
    return LendingConfig(**parse_kinded(raw, loc, _COMMON, LENDING_SCHEMAS))


def _flash_loan(raw: Any, loc: Loc) -> FlashLoanSource:
    return FlashLoanSource(**parse_table(raw, FLASH_LOAN_SCHEMA, loc))


CHAIN_SCHEMA: Schema = {
    "name": req(identifier),
    "chain_id": req(positive_int),
    "native_symbol": req(string),
    "block_time": req(positive_number),
    "fee_model": req(choice(*FEE_MODELS)),
    "wrapped_native": req(address),
    "multicall3": req(address),
    "rpc_urls": opt(list_of(url(*RPC_SCHEMES)), ()),
    "ws_urls": opt(list_of(url(*WS_SCHEMES)), ()),
    "dex": opt(table_list(_dex, unique="name"), ()),
    "lending": opt(table_list(_lending, unique="name"), ()),
    "flash_loans": opt(table_list(_flash_loan, unique="address"), ()),
}

RPC_SCHEMA: Schema = {
    "rpc_urls": opt(list_of(url(*RPC_SCHEMES)), ()),
    "ws_urls": opt(list_of(url(*WS_SCHEMES)), ()),
}

DEVNET_SCHEMA: Schema = {
    "manifest": req(path_value),
    "name": opt(identifier, "devnet"),
    "chain_id": opt(positive_int, 31337),
    "native_symbol": opt(string, "ETH"),
    "block_time": opt(positive_number, 1.0),
    "fee_model": opt(choice(*FEE_MODELS), "eip1559"),
}


def _rpc(raw: Any, loc: Loc) -> dict[str, Any]:
    return parse_table(raw, RPC_SCHEMA, loc)


def _devnet(raw: Any, loc: Loc) -> DevnetConfig:
    return DevnetConfig(**parse_table(raw, DEVNET_SCHEMA, loc))


APP_SCHEMA: Schema = {
    "mode": req(choice(*MODES)),
    "chains": opt(list_of(identifier), ()),
    "chains_dir": opt(path_value, Path("chains")),
    "rpc": opt(table_of(_rpc), {}),
    "devnet": opt(_devnet),
}


# ---------------------------------------------------------------------------------------- loaders


def load_chain(path: str | Path) -> ChainConfig:
    """One chain file (config/chains/<name>.toml)."""
    path = Path(path)
    return ChainConfig(**parse_table(read_toml(path), CHAIN_SCHEMA, Loc(path)))


def load_chains(directory: str | Path) -> dict[str, ChainConfig]:
    """Every *.toml in a directory, by chain name; names and chain ids must be unique."""
    directory = Path(directory)
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise ConfigError(directory, "", "no chain files (*.toml) here")
    chains: dict[str, ChainConfig] = {}
    origin: dict[tuple[str, Any], Path] = {}
    for path in files:
        chain = load_chain(path)
        for key in ("name", "chain_id"):
            value = getattr(chain, key)
            if (key, value) in origin:
                raise ConfigError(
                    path, key, f"{value!r} is already used by {origin[key, value].name}"
                )
            origin[key, value] = path
        chains[chain.name] = chain
    return chains


def load_app_config(path: str | Path) -> AppConfig:
    """The app config: mode, which chains (from chains_dir, plus your nodes), or a devnet."""
    path = Path(path)
    loc = Loc(path)
    values = parse_table(read_toml(path), APP_SCHEMA, loc)
    if not values["chains"] and values["devnet"] is None:
        raise loc.error("no chains: list chains = [...] or add a [devnet] table")
    rpc: dict[str, dict[str, Any]] = values["rpc"]
    for name in rpc:
        if name not in values["chains"]:
            raise (
                loc.child("rpc")
                .child(name)
                .error(f"chain {name!r} is not in chains{did_you_mean(name, values['chains'])}")
            )
    _check_unique_names(values["chains"], loc.child("chains"))
    chains_dir = path.parent / values["chains_dir"]
    chains = tuple(
        _app_chain(chains_dir, name, rpc.get(name, {}), loc.child("chains").item(i))
        for i, name in enumerate(values["chains"])
    )
    return AppConfig(mode=values["mode"], chains=chains, devnet=values["devnet"], source=path)


def _check_unique_names(names: tuple[str, ...], loc: Loc) -> None:
    for i, name in enumerate(names):
        if name in names[:i]:
            raise loc.item(i).error(f"chain {name!r} is listed twice")


def _app_chain(chains_dir: Path, name: str, rpc: Mapping[str, Any], loc: Loc) -> ChainConfig:
    """A chain from chains_dir with this app's node URLs; every chain needs at least one node."""
    path = chains_dir / f"{name}.toml"
    if not path.is_file():
        known = (p.stem for p in chains_dir.glob("*.toml"))
        raise loc.error(f"no chain file {path}{did_you_mean(name, known)}")
    chain = load_chain(path)
    if chain.name != name:
        raise loc.error(f"{path} defines chain {chain.name!r}, not {name!r}")
    chain = replace(
        chain,
        rpc_urls=rpc.get("rpc_urls") or chain.rpc_urls,
        ws_urls=rpc.get("ws_urls") or chain.ws_urls,
    )
    if not chain.rpc_urls:
        raise ConfigError(
            loc.path,
            f"rpc.{name}.rpc_urls",
            f"no node for chain {name!r}: chain files ship none, so bring your own "
            f'([rpc.{name}] rpc_urls = ["https://..."]; ${{ENV_VAR}} is expanded)',
        )
    return chain


# ----------------------------------------------------------------------------------------- devnet


def load_manifest(devnet: DevnetConfig) -> dict[str, Any]:
    """The devnet manifest JSON; relative paths are from the working directory, like the CLI's."""
    path = devnet.manifest
    if not path.is_file():
        raise ConfigError(path, "", "no devnet manifest here: run `tallyio devnet up`")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(path, f"line {exc.lineno}, column {exc.colno}", exc.msg) from None
    if not isinstance(data, dict):
        raise ConfigError(path, "", "expected a JSON object")
    return data


def devnet_chain(devnet: DevnetConfig, manifest: Mapping[str, Any]) -> ChainConfig:
    """A ChainConfig for the devnet: node, chain id, WETH and multicall from its manifest.

    Protocol sections (dex, lending, flash loans) stay empty here: the devnet's paper/replay wiring
    reads them from the manifest's per-protocol sections.
    """
    loc = Loc(devnet.manifest)
    chain_id = field_value(manifest, "chain_id", req(positive_int), loc)
    if chain_id != devnet.chain_id:
        raise loc.child("chain_id").error(
            f"the manifest is for chain {chain_id}, the config expects {devnet.chain_id}"
        )
    tokens = field_value(manifest, "tokens", req(_mapping), loc)
    ws_url = field_value(manifest, "ws_url", opt(url(*WS_SCHEMES)), loc)
    return ChainConfig(
        name=devnet.name,
        chain_id=chain_id,
        native_symbol=devnet.native_symbol,
        block_time=devnet.block_time,
        fee_model=devnet.fee_model,
        wrapped_native=field_value(tokens, "WETH", req(address), loc.child("tokens")),
        multicall3=field_value(manifest, "multicall", req(address), loc),
        rpc_urls=(field_value(manifest, "rpc_url", req(url(*RPC_SCHEMES)), loc),),
        ws_urls=(ws_url,) if ws_url else (),
    )


def _mapping(value: Any, loc: Loc) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise loc.error("expected an object")
    return value


__all__ = [
    "AAVE_VERSIONS",
    "DEX_KINDS",
    "FEE_MODELS",
    "FLASH_LOAN_KINDS",
    "LENDING_KINDS",
    "MODES",
    "AaveVersion",
    "AppConfig",
    "ChainConfig",
    "ConfigError",
    "DevnetConfig",
    "DexConfig",
    "DexKind",
    "FeeModel",
    "FlashLoanKind",
    "FlashLoanSource",
    "LendingConfig",
    "LendingKind",
    "Mode",
    "devnet_chain",
    "load_app_config",
    "load_chain",
    "load_chains",
    "load_manifest",
]
