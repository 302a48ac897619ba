"""How long the exact lending models take (pure Python ints, protocols.aave_v3 and .venus).

Figures are microseconds per call, the best of several timed rounds over a spread of accounts:
  * aave_account_data_us: GenericLogic.calculateUserAccountData + available borrows for an
    account holding all four reserves (two collateral, two debts, one stable), evaluated one day
    after the reserves' last update, so both index paths (linear income, compounded debt) run;
    aave_account_data_fast_us: the same on the native fast path (aave_v3_fast, checked equal);
  * devnet: the seeded Aave market's accounts from a snapshot, the readable and the fast
    account check per account beside Pool.getUserAccountData by eth_call (sequential round
    trips over loopback, the same run), and the fast path's ratio to it (target >= 1000x);
  * aave_liquidation_us: executeLiquidationCall (HF, close factor, collateral and fee);
  * venus_account_liquidity_us: getAccountLiquidity over four entered markets;
  * venus_accrue_interest_us: one market's accrueInterest.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tallyio.protocols import aave_v3 as aave
from tallyio.protocols import aave_v3_fast, venus
from tallyio.protocols.aave_v3_math import RAY, ray_mul

ROUNDS = 5
TARGET_SPEEDUP = 1_000
ACCOUNTS = 1_000
T0 = 1_700_000_000
NOW = T0 + 86_400
SYMBOLS = ("WETH", "WBTC", "USDC", "DAI")
DECIMALS = {"WETH": 18, "WBTC": 8, "USDC": 6, "DAI": 18}
PRICES_8 = {"WETH": 2_000 * 10**8, "WBTC": 60_000 * 10**8, "USDC": 10**8, "DAI": 10**8}
RISK = {"WETH": (8000, 8250, 10500), "WBTC": (7000, 7500, 11000),
        "USDC": (7700, 8000, 10450), "DAI": (7500, 7700, 10500)}  # fmt: skip


def _best_us(call: Callable[[Any], object], inputs: list[Any], digits: int = 2) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter_ns()
        for item in inputs:
            call(item)
        best = min(best, time.perf_counter_ns() - started)
    return round(best / len(inputs) / 1_000, digits)


def _aave_reserves() -> dict[str, aave.ReserveData]:
    out = {}
    for i, s in enumerate(SYMBOLS):
        ltv, lt, bonus = RISK[s]
        out[s] = aave.ReserveData(
            asset=s, id=i, decimals=DECIMALS[s], price=PRICES_8[s], ltv=ltv,
            liquidation_threshold=lt, liquidation_bonus=bonus, liquidation_protocol_fee=1000,
            emode_category=1 if s in ("USDC", "DAI") else 0,
            liquidity_index=RAY + 10**24 * (i + 1), current_liquidity_rate=3 * 10**25,
            variable_borrow_index=RAY + 3 * 10**24 * (i + 1),
            current_variable_borrow_rate=5 * 10**25, last_update_timestamp=T0,
        )  # fmt: skip
    return out


def _aave_account(rng: random.Random) -> aave.UserAccount:
    """WETH and WBTC as collateral, USDC and DAI (one part stable) as debt, at HF 0.9-1.3."""
    weth = rng.randint(5, 50) * 10**18
    wbtc = rng.randint(10**7, 10**9)
    collateral_usd = weth * 2_000 // 10**18 + wbtc * 60_000 // 10**8
    debt_usd = int(collateral_usd * rng.uniform(0.6, 0.85))
    return aave.UserAccount(
        (
            aave.UserReserve("WETH", scaled_a_token_balance=weth, using_as_collateral=True),
            aave.UserReserve("WBTC", scaled_a_token_balance=wbtc, using_as_collateral=True),
            aave.UserReserve("USDC", scaled_variable_debt=debt_usd // 2 * 10**6, borrowing=True),
            aave.UserReserve(
                "DAI",
                scaled_variable_debt=debt_usd // 4 * 10**18,
                stable_debt_principal=debt_usd // 4 * 10**18,
                stable_rate=8 * 10**25,
                stable_last_updated=T0,
                borrowing=True,
            ),
        )
    )


def _venus_assets(rng: random.Random) -> list[venus.AccountAsset]:
    out = []
    for s in SYMBOLS:
        price = PRICES_8[s] * 10**10 * 10 ** (18 - DECIMALS[s])
        rate = 2 * 10 ** (16 + DECIMALS[s] - 8) + rng.randint(0, 10**6)
        asset = venus.AccountAsset(
            vtoken=s, vtoken_balance=rng.randint(10**9, 10**12),
            borrow_balance=rng.randint(0, 10 ** DECIMALS[s] * 1_000), exchange_rate=rate,
            price=price, collateral_factor=75 * 10**16, liquidation_threshold=80 * 10**16,
            liquidation_incentive=11 * 10**17,
        )  # fmt: skip
        out.append(asset)
    return out


def _venus_market() -> venus.MarketState:
    model = venus.JumpRateModel.from_yearly(0, 5 * 10**16, 109 * 10**16, 80 * 10**16, 70_080_000)
    return venus.MarketState(
        cash=4_000_000 * 10**6, total_borrows=1_000_000 * 10**6, total_reserves=10**9,
        total_supply=25 * 10**15, borrow_index=10**18, accrual_block_number=100,
        reserve_factor=10**17, initial_exchange_rate=2 * 10**14, rate_model=model,
    )  # fmt: skip


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tallyio-bench-aave-") as tmp:
        devnet = asyncio.run(versus_eth_call(Path(tmp)))
    return synthetic() | devnet


def synthetic() -> dict[str, Any]:
    rng = random.Random(7)
    reserves = _aave_reserves()
    accounts = [_aave_account(rng) for _ in range(ACCOUNTS)]
    # Liquidations where they are allowed: WETH falls until most accounts are under HF 1.
    crashed = dict(reserves, WETH=replace(reserves["WETH"], price=900 * 10**8))

    def account_data(account: aave.UserAccount) -> aave.AccountData:
        return aave.calculate_user_account_data(reserves, account, NOW)

    def liquidate(account: aave.UserAccount) -> aave.LiquidationResult:
        return aave.execute_liquidation_call(
            crashed, account, collateral_asset="WETH", debt_asset="USDC",
            debt_to_cover=2**256 - 1, timestamp=NOW,
        )  # fmt: skip

    liquidatable = [
        a for a in accounts
        if aave.calculate_user_account_data(crashed, a, NOW).health_factor < 10**18
    ]  # fmt: skip
    assets = [_venus_assets(rng) for _ in range(ACCOUNTS)]
    market = _venus_market()
    blocks = [101 + rng.randint(0, 10_000) for _ in range(ACCOUNTS)]

    def fast_account_data(account: aave.UserAccount) -> aave.AccountData:
        return aave_v3_fast.calculate_user_account_data(reserves, account, NOW)

    if any(fast_account_data(a) != account_data(a) for a in accounts):
        raise AssertionError("the fast path disagrees with the readable model")
    return {
        "aave_account_data_us": _best_us(account_data, accounts),
        "aave_account_data_fast_us": _best_us(fast_account_data, accounts, 3),
        "aave_liquidation_us": _best_us(liquidate, liquidatable),
        "aave_liquidatable_accounts": len(liquidatable),
        "venus_account_liquidity_us": _best_us(venus.get_account_liquidity, assets),
        "venus_accrue_interest_us": _best_us(lambda b: venus.accrue_interest(market, b), blocks),
        "aave_ray_mul_ns": round(_best_us(lambda x: ray_mul(x, RAY + 12_345), blocks) * 1_000),
        "accounts": ACCOUNTS,
        "reserves_per_account": len(SYMBOLS),
    }


async def versus_eth_call(tmp: Path) -> dict[str, Any]:
    """The devnet market's accounts: readable and fast checks; getUserAccountData by eth_call."""
    from tallyio.chain import build_client
    from tallyio.devnet import deploy
    from tallyio.state.position_loader import (
        calldata,
        discover_accounts,
        load_snapshot,
        refs_from_manifest,
    )
    from tallyio.state.positions import aave_inputs, account_key

    manifest = deploy.up(tmp, protocols=("aave_v3",))
    client = build_client(manifest["rpc_url"])
    try:
        none: dict[str, Any] = {"comptroller": "0x0", "markets": {}, "oracle": "0x0"}
        aref = refs_from_manifest(manifest | {"venus": none})[0]
        head = int(await client.request("eth_blockNumber"), 16)
        users = await discover_accounts(client, aref, 0, head)
        snap = await load_snapshot(client, block=head, aave_markets=[(aref, users)])
        ts = snap[("clock",)][1]
        reserves, emodes = aave_inputs(snap.get, aref)
        cases = []
        for u in users:
            account = snap.get(account_key("aave_v3", aref.pool, u)) or aave.UserAccount(())
            cases.append((account, emodes.get(account.emode_category)))

        def readable(case: tuple[aave.UserAccount, Any]) -> aave.AccountData:
            return aave.calculate_user_account_data(reserves, case[0], ts, case[1])

        def fast(case: tuple[aave.UserAccount, Any]) -> aave.AccountData:
            return aave_v3_fast.calculate_user_account_data(reserves, case[0], ts, case[1])

        if any(fast(c) != readable(c) for c in cases):
            raise AssertionError("the fast path disagrees with the readable model on the devnet")
        readable_us = _best_us(readable, cases * 20)
        fast_us = _best_us(fast, cases * 200, 3)
        calls = [calldata("getUserAccountData(address)", u).hex() for u in users] * 20
        t = time.perf_counter_ns()
        for data in calls:
            await client.request("eth_call", [{"to": aref.pool, "data": "0x" + data}, hex(head)])
        call_us = (time.perf_counter_ns() - t) / 1_000 / len(calls)
    finally:
        await client.close()
        deploy.down(tmp)
    speedup = call_us / fast_us
    return {
        "devnet_accounts": len(users),
        "devnet_account_data_us": readable_us,
        "devnet_account_data_fast_us": fast_us,
        "devnet_get_user_account_data_eth_call_us": round(call_us, 1),
        "devnet_readable_speedup_vs_eth_call": round(call_us / readable_us, 1),
        "devnet_fast_speedup_vs_eth_call": round(speedup),
        "target_speedup_vs_eth_call": TARGET_SPEEDUP,
        "met": {"fast_speedup": speedup >= TARGET_SPEEDUP},
        "passed": speedup >= TARGET_SPEEDUP,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
