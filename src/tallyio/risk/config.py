"""Risk limits from config/risk/*.toml, loaded into frozen, validated values.

    load_risk_config("config/risk/default.toml") -> RiskConfig
    config.limits_for("arbitrage", 1)             -> Limits (the merged limits that apply)

Limits are layered: `[limits]` (every key required) < `[chains.<name>]` < `[strategies.<name>]`
< `[strategies.<name>.chains.<chain>]`; the most specific entry that sets a key wins. Wei amounts
are an integer (wei) or a string with a unit ("30 gwei", "0.05 ether"), converted exactly; an
amount that is not a whole number of wei is an error. Every problem is a `ConfigError` naming
the file and the key (docs/risk.md describes the format).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tallyio.app.config_schema import (
    ConfigError,
    Loc,
    Schema,
    address,
    describe,
    expect_table,
    identifier,
    integer,
    list_of,
    opt,
    parse_table,
    positive_int,
    read_toml,
    req,
    table_list,
)

WEI_UNITS = {"wei": 1, "gwei": 10**9, "ether": 10**18, "eth": 10**18}
BPS = 10_000


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits one opportunity is checked against (wei of the chain's native coin)."""

    max_notional_usd: int  # largest leg, whole USD
    max_flash_loan_usd: int  # flash-loan size, whole USD
    max_gas_price: int  # wei per gas
    max_gas_spend_per_hour: int  # wei, this strategy on this chain, over the last hour
    min_profit: int  # wei, expected profit after gas
    max_slippage_bps: int  # room the plan's min_profit leaves below the expected profit


@dataclass(frozen=True, slots=True)
class LimitOverride:
    """Some of the limits, set by a chain or a strategy entry; None leaves the key to the layer
    below."""

    max_notional_usd: int | None = None
    max_flash_loan_usd: int | None = None
    max_gas_price: int | None = None
    max_gas_spend_per_hour: int | None = None
    min_profit: int | None = None
    max_slippage_bps: int | None = None

    def over(self, base: Limits) -> Limits:
        changes = {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}
        return replace(base, **changes)


@dataclass(frozen=True, slots=True)
class ChainRisk:
    name: str
    chain_id: int
    limits: LimitOverride = LimitOverride()
    sweep_tokens: tuple[str, ...] = ()  # emergency exit withdraws these (beside --token)


@dataclass(frozen=True, slots=True)
class StrategyRisk:
    name: str
    limits: LimitOverride = LimitOverride()
    chains: tuple[tuple[int, LimitOverride], ...] = ()  # (chain id, override) pairs


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    window_seconds: int  # failures and losses count over this trailing window
    max_failures: int  # failed or losing transactions of one strategy in the window
    max_loss: int  # wei: one strategy's losses in the window (wins do not offset them)
    max_total_loss: int  # wei: every strategy's losses in the window; trips everything
    max_head_lag_blocks: int  # the node's head this far behind trips everything


@dataclass(frozen=True, slots=True)
class ExposureLimit:
    """At most `max_amount` base units of `token` committed by in-flight trades on a chain."""

    chain_id: int
    token: str  # EIP-55
    max_amount: int  # base units


@dataclass(frozen=True, slots=True)
class RiskConfig:
    limits: Limits
    breaker: BreakerConfig
    chains: tuple[ChainRisk, ...] = ()
    strategies: tuple[StrategyRisk, ...] = ()
    exposure: tuple[ExposureLimit, ...] = ()
    source: Path | None = None

    def limits_for(self, strategy: str, chain_id: int) -> Limits:
        """Global < chain < strategy < strategy-on-chain: the most specific key wins."""
        limits = self.limits
        for chain in self.chains:
            if chain.chain_id == chain_id:
                limits = chain.limits.over(limits)
        for entry in self.strategies:
            if entry.name == strategy:
                limits = entry.limits.over(limits)
                for cid, override in entry.chains:
                    if cid == chain_id:
                        limits = override.over(limits)
        return limits

    def chain(self, chain_id: int) -> ChainRisk | None:
        return next((c for c in self.chains if c.chain_id == chain_id), None)


# ------------------------------------------------------------------------------------- values


def wei_amount(value: Any, loc: Loc) -> int:
    """An integer (wei), or a string "<number> <unit>" with unit wei, gwei or ether; exact."""
    if isinstance(value, int) and not isinstance(value, bool):
        number, unit = Decimal(value), 1
    elif isinstance(value, str):
        number, unit = _number_with_unit(value, loc)
    else:
        raise loc.error(
            f"expected wei (an integer) or a string like '30 gwei', got {describe(value)}"
        )
    return _whole(number * unit, loc, "wei")


def _number_with_unit(text: str, loc: Loc) -> tuple[Decimal, int]:
    parts = text.replace("_", "").split()
    if len(parts) != 2 or parts[1].lower() not in WEI_UNITS:
        units = ", ".join(WEI_UNITS)
        raise loc.error(f"{text!r} is not '<number> <unit>' with a unit among: {units}")
    return _decimal(parts[0], loc), WEI_UNITS[parts[1].lower()]


def _decimal(text: str, loc: Loc) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise loc.error(f"{text!r} is not a number") from None
    if not number.is_finite():
        raise loc.error(f"{text!r} is not a finite number")
    return number


def _whole(number: Decimal, loc: Loc, what: str) -> int:
    if number < 0:
        raise loc.error(f"must not be negative, got {number}")
    if number != number.to_integral_value():
        raise loc.error(f"{number} is not a whole number of {what}")
    return int(number)


def non_negative_int(value: Any, loc: Loc) -> int:
    number = integer(value, loc)
    if number < 0:
        raise loc.error(f"must not be negative, got {number}")
    return number


def slippage_bps(value: Any, loc: Loc) -> int:
    number = integer(value, loc)
    if not 0 <= number <= BPS:
        raise loc.error(f"must be basis points in [0, 10000], got {number}")
    return number


def token_amount(value: Any, loc: Loc) -> Decimal:
    """Whole tokens as an integer or a decimal string ("12.5"); floats are refused (inexact)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        return _decimal(value.replace("_", "").strip(), loc)
    raise loc.error(f"expected an integer or a decimal string, got {describe(value)}")


# ------------------------------------------------------------------------------------ schemas

LIMIT_CHECKS = {
    "max_notional_usd": non_negative_int,
    "max_flash_loan_usd": non_negative_int,
    "max_gas_price": wei_amount,
    "max_gas_spend_per_hour": wei_amount,
    "min_profit": wei_amount,
    "max_slippage_bps": slippage_bps,
}
LIMITS_SCHEMA: Schema = {key: req(check) for key, check in LIMIT_CHECKS.items()}
OVERRIDE_SCHEMA: Schema = {key: opt(check) for key, check in LIMIT_CHECKS.items()}

BREAKER_SCHEMA: Schema = {
    "window_seconds": req(positive_int),
    "max_failures": req(positive_int),
    "max_loss": req(wei_amount),
    "max_total_loss": req(wei_amount),
    "max_head_lag_blocks": req(positive_int),
}

CHAIN_SCHEMA: Schema = {
    "chain_id": req(positive_int),
    "sweep_tokens": opt(list_of(address), ()),
    **OVERRIDE_SCHEMA,
}


def _exposure(raw: Any, loc: Loc) -> ExposureLimit:
    schema: Schema = {
        "chain_id": req(positive_int),
        "token": req(address),
        "decimals": req(non_negative_int),
        "max_amount": req(token_amount),
    }
    values = parse_table(raw, schema, loc)
    base = values["max_amount"] * 10 ** values["decimals"]
    amount = _whole(base, loc.child("max_amount"), "base units")
    return ExposureLimit(values["chain_id"], values["token"], amount)


FILE_SCHEMA: Schema = {
    "limits": req(lambda raw, loc: Limits(**parse_table(raw, LIMITS_SCHEMA, loc))),
    "breaker": req(lambda raw, loc: BreakerConfig(**parse_table(raw, BREAKER_SCHEMA, loc))),
    "chains": opt(expect_table, {}),
    "strategies": opt(expect_table, {}),
    "exposure": opt(table_list(_exposure), ()),
}


# ------------------------------------------------------------------------------------ loading


def load_risk_config(path: str | Path) -> RiskConfig:
    """One risk file (config/risk/<name>.toml)."""
    path = Path(path)
    loc = Loc(path)
    values = parse_table(read_toml(path), FILE_SCHEMA, loc)
    chains = _chains(values["chains"], loc.child("chains"))
    ids = {c.name: c.chain_id for c in chains}
    strategies = tuple(
        _strategy(name, raw, ids, loc.child("strategies").child(name))
        for name, raw in values["strategies"].items()
    )
    _check_exposure(values["exposure"], loc.child("exposure"))
    return RiskConfig(
        values["limits"], values["breaker"], chains, strategies, values["exposure"], path
    )


def _chains(raw: Mapping[str, Any], loc: Loc) -> tuple[ChainRisk, ...]:
    chains: list[ChainRisk] = []
    for name, table in raw.items():
        where = loc.child(name)
        identifier(name, where)
        values = parse_table(table, CHAIN_SCHEMA, where)
        chain_id, tokens = values.pop("chain_id"), values.pop("sweep_tokens")
        clash = next((c.name for c in chains if c.chain_id == chain_id), None)
        if clash is not None:
            raise where.child("chain_id").error(f"chain id {chain_id} is also chains.{clash}")
        chains.append(ChainRisk(name, chain_id, LimitOverride(**values), tokens))
    return tuple(chains)


def _strategy(name: str, raw: Any, ids: Mapping[str, int], loc: Loc) -> StrategyRisk:
    identifier(name, loc)
    table = dict(expect_table(raw, loc))
    per_chain = expect_table(table.pop("chains", {}), loc.child("chains"))
    overrides: list[tuple[int, LimitOverride]] = []
    for chain, sub in per_chain.items():
        where = loc.child("chains").child(chain)
        if chain not in ids:
            known = ", ".join(sorted(ids)) or "none"
            raise where.error(f"no [chains.{chain}] entry gives its chain id (known: {known})")
        overrides.append((ids[chain], LimitOverride(**parse_table(sub, OVERRIDE_SCHEMA, where))))
    limits = LimitOverride(**parse_table(table, OVERRIDE_SCHEMA, loc))
    return StrategyRisk(name, limits, tuple(overrides))


def _check_exposure(limits: tuple[ExposureLimit, ...], loc: Loc) -> None:
    seen: set[tuple[int, str]] = set()
    for i, limit in enumerate(limits):
        key = (limit.chain_id, limit.token)
        if key in seen:
            raise loc.item(i).error(
                f"token {limit.token} on chain {limit.chain_id} is listed twice"
            )
        seen.add(key)


__all__ = [
    "BreakerConfig",
    "ChainRisk",
    "ConfigError",
    "ExposureLimit",
    "LimitOverride",
    "Limits",
    "RiskConfig",
    "StrategyRisk",
    "load_risk_config",
    "wei_amount",
]
