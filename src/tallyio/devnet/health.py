"""Read seeded borrowers' health straight from the lending contracts (for the demo and checks)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tallyio.devnet.context import DeployContext

AAVE_ACCOUNT_DATA_ABI = [{
    "name": "getUserAccountData", "type": "function", "stateMutability": "view",
    "inputs": [{"name": "user", "type": "address"}],
    "outputs": [{"name": n, "type": "uint256"} for n in (
        "totalCollateralBase", "totalDebtBase", "availableBorrowsBase",
        "currentLiquidationThreshold", "ltv", "healthFactor")],
}]  # fmt: skip
VENUS_LIQUIDITY_ABI = [{
    "name": "getAccountLiquidity", "type": "function", "stateMutability": "view",
    "inputs": [{"name": "account", "type": "address"}],
    "outputs": [{"name": n, "type": "uint256"} for n in ("error", "liquidity", "shortfall")],
}]  # fmt: skip
WAD = 10**18


@dataclass(frozen=True, slots=True)
class BorrowerHealth:
    protocol: str
    account: str
    collateral_usd: float | None  # display only; None where the protocol does not report it
    debt_usd: float | None
    health_factor: float | None  # Aave's HF; None for Venus (it reports liquidity/shortfall)
    liquidity_usd: float  # headroom before liquidation (negative = shortfall)
    liquidatable: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def aave_health(ctx: DeployContext, account: str) -> BorrowerHealth:
    pool = ctx.d.w3.eth.contract(address=ctx.manifest["aave_v3"]["pool"], abi=AAVE_ACCOUNT_DATA_ABI)
    coll, debt, _, lt_bps, _, hf = pool.functions.getUserAccountData(account).call()
    headroom = (coll * lt_bps // 10_000 - debt) / 1e8
    return BorrowerHealth("aave_v3", account, coll / 1e8, debt / 1e8, hf / WAD, headroom, hf < WAD)


def venus_health(ctx: DeployContext, account: str) -> BorrowerHealth:
    address = ctx.manifest["venus"]["comptroller"]
    comptroller = ctx.d.w3.eth.contract(address=address, abi=VENUS_LIQUIDITY_ABI)
    err, liquidity, shortfall = comptroller.functions.getAccountLiquidity(account).call()
    if err:
        raise RuntimeError(f"Venus getAccountLiquidity({account}) returned error {err}")
    headroom = (liquidity - shortfall) / WAD
    return BorrowerHealth("venus", account, None, None, None, headroom, shortfall > 0)


def all_borrowers(ctx: DeployContext) -> list[BorrowerHealth]:
    readers = {"aave_v3": aave_health, "venus": venus_health}
    out = []
    for protocol, accounts in ctx.manifest.get("borrowers", {}).items():
        reader = readers.get(protocol)
        if reader is not None:
            out += [reader(ctx, a) for a in accounts]
    return out
