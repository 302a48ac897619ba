"""Builders shared by the risk unit tests: a config, an opportunity, a gate on a FixedClock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tallyio.core.clock import FixedClock
from tallyio.core.opportunity import ETH, Kind, Opportunity
from tallyio.core.plan import FlashLoan, FlashSource, Plan, UniswapV2Swap
from tallyio.risk import CircuitBreaker, Exposure, RiskGate, RiskStore, load_risk_config

GWEI = 10**9
WETH = "0x" + "11" * 20
USDC = "0x" + "22" * 20
PAIR = "0x" + "33" * 20
VAULT = "0x" + "44" * 20

CONFIG = f"""
[limits]
max_notional_usd = 100_000
max_flash_loan_usd = 500_000
max_gas_price = "100 gwei"
max_gas_spend_per_hour = "0.1 ether"
min_profit = "0.01 ether"
max_slippage_bps = 200

[breaker]
window_seconds = 600
max_failures = 3
max_loss = "0.5 ether"
max_total_loss = "1 ether"
max_head_lag_blocks = 3

[chains.ethereum]
chain_id = 1
max_gas_price = "50 gwei"

[chains.bsc]
chain_id = 56

[strategies.arbitrage]
max_notional_usd = 10_000
min_profit = "0.02 ether"

[strategies.arbitrage.chains.bsc]
max_gas_price = "5 gwei"

[[exposure]]
chain_id = 1
token = "{WETH}"
decimals = 18
max_amount = "10"
"""


def write_config(tmp_path: Path, text: str = CONFIG, name: str = "risk.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def opportunity(
    *, strategy: str = "liquidation", chain_id: int = 1, expected_profit: int = ETH // 10,
    min_profit: int | None = None, gas: int = 100_000, notional_usd: int = 1_000,
    flash_loan_usd: int = 1_000, loan_amount: int = ETH, amount_in: int = ETH,
) -> Opportunity:  # fmt: skip
    """A WETH-profit opportunity (eth_price = 1 ETH per ETH, so profit units are wei), flash-loan
    funded unless loan_amount=0 (then it spends the executor's own WETH: amount_in)."""
    loan = FlashLoan(FlashSource.BALANCER, VAULT, WETH, loan_amount) if loan_amount else None
    swaps = (UniswapV2Swap(PAIR, WETH, USDC, amount_in), UniswapV2Swap(PAIR, USDC, WETH))
    floor = expected_profit if min_profit is None else min_profit
    plan = Plan(swaps, WETH, floor, loan) if loan else Plan(swaps, WETH, floor)
    return Opportunity(strategy, Kind.ARBITRAGE, chain_id, 100, plan, expected_profit, gas, ETH,
                       notional_usd=notional_usd, flash_loan_usd=flash_loan_usd)  # fmt: skip


@dataclass
class Rig:
    gate: RiskGate
    clock: FixedClock
    store: RiskStore
    state_dir: Path


def rig(tmp_path: Path, text: str = CONFIG) -> Rig:
    config = load_risk_config(write_config(tmp_path, text))
    clock = FixedClock(1_700_000_000.0)
    store = RiskStore(tmp_path / "state")
    breaker = CircuitBreaker(config.breaker, store, clock)
    return Rig(RiskGate(config, breaker, Exposure(config.exposure), clock), clock, store,
               tmp_path / "state")  # fmt: skip
