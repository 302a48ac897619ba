"""Venus's redeem fee (Comptroller.treasuryPercent) on the real devnet contracts.

The devnet leaves the fee at 0; each test sets it through the comptroller's admin setter
(`_setTreasuryData(guardian, treasuryAddress, percent)`, the deployer is the admin) inside the
`chain` fixture, which reverts it afterwards. Then:
  * the state kept by events (NewTreasuryPercent) equals a fresh snapshot, entry for entry;
  * real redeems pay the redeemer and the treasury exactly what venus.redeem_fee and
    redeem_fresh say, to the wei, at odd sizes in two markets; through the Liquidator, the
    share reserve, we and the treasury get exactly liquidator_seizure's amounts;
  * a liquidation the strategy sizes with the fee (directly and through the Liquidator) keeps
    exactly its expected profit on chain, and the fee-less state would have expected more.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from test_config_state import Follower, _run
from test_venus_liquidator import (
    DEEP_ETH_USD_8,
    USDC,
    _balance,
    _executor,
    _send,
    _shock,
    _with_liquidator,
)
from web3.logs import DISCARD

from liquidation_optimum import block_context, liquidation_config, load_state
from tallyio.core.plan import NO_LOAN, Plan, VenusLiquidation
from tallyio.devnet.scenarios import price_shock
from tallyio.devnet.venus import vtoken_abi
from tallyio.protocols import venus
from tallyio.protocols.venus_liquidator import liquidator_seizure, redeem_fresh
from tallyio.state.graph import PoolGraph
from tallyio.state.lending_keys import treasury_percent_key
from tallyio.state.position_loader import calldata, refs_from_manifest
from tallyio.state.positions import reserve_key
from tallyio.state.store import StateView
from tallyio.strategies.liquidation import VenusLiquidation as VenusStrategy
from tallyio.strategies.liquidation_route import graph_router

if TYPE_CHECKING:
    from conftest import Devnet

pytestmark = pytest.mark.devnet

TREASURY = "0x" + "7e" * 20  # an address holding nothing: what it receives is the fee
PERCENT = 3 * 10**16 + 7  # 3% and a little: every fee floors


def _set_fee(chain: Devnet, percent: int = PERCENT) -> None:
    comp, admin = chain.manifest["venus"]["comptroller"], chain.context().deployer
    data = calldata("_setTreasuryData(address,address,uint256)", admin, TREASURY, percent)
    chain.d.send_raw_call(comp, "0x" + data.hex(), sender=admin)
    got = chain.d.rpc("eth_call", {"to": comp, "data": "0x" + calldata(
        "treasuryPercent()").hex()}, "latest")  # fmt: skip
    assert int(got, 16) == percent


def test_treasury_percent_followed_equals_a_fresh_snapshot(chain: Devnet) -> None:
    async def scenario(f: Follower) -> None:
        key = treasury_percent_key(f.vref.comptroller)
        await f.start()
        assert f.state is not None and f.state.get(key) == 0  # the snapshot reads it
        _set_fee(chain)
        await f.check()
        assert f.state.get(key) == PERCENT

    _run(chain, scenario)


def test_redeems_pay_redeemer_and_treasury_what_the_model_says(chain: Devnet) -> None:
    m, ctx = chain.manifest, chain.context()
    _set_fee(chain)
    trader, comp = chain.account("trader"), m["venus"]["comptroller"].lower()
    for symbol, supplied in (("USDC", 12_345_678_901), ("WETH", 7 * 10**18 + 123)):
        vt = chain.d.at(vtoken_abi(), m["venus"]["vtokens"][symbol])
        token = m["tokens"][symbol]
        ctx.fund(symbol, trader, supplied)
        ctx.approve(symbol, trader, vt.address)
        chain.d.send(vt.functions.mint(supplied), sender=trader)
        held = vt.functions.balanceOf(trader).call()
        for tokens in (1_234_567, held // 3, held - held // 3 - 1_234_567):
            lending, _, raw = asyncio.run(load_state(m))
            key = reserve_key("venus", comp, vt.address)
            market = venus.accrue_interest(lending[key].state, int(raw["number"], 16) + 1)
            gross = venus.mul_scalar_truncate(venus.exchange_rate_stored(market), tokens)
            fee, paid = venus.redeem_fee(gross, PERCENT)
            model = redeem_fresh(market, tokens, PERCENT)
            assert model is not None and model[1] == paid and fee > 0
            before = _balance(chain, token, trader), _balance(chain, token, TREASURY)
            receipt = chain.d.send(vt.functions.redeem(tokens), sender=trader)
            assert int(receipt["blockNumber"], 16) == int(raw["number"], 16) + 1
            assert _balance(chain, token, trader) - before[0] == paid
            assert _balance(chain, token, TREASURY) - before[1] == fee
            assert vt.functions.getCash().call() == model[0].cash


def test_liquidator_redeems_pay_the_fee_as_the_model_says(chain: Devnet) -> None:
    """Through the Liquidator both redeems pay it: the share reserve, we and the treasury get
    exactly liquidator_seizure's amounts."""
    m, ctx, v = chain.manifest, chain.context(), chain.manifest["venus"]
    _, liquidator = _with_liquidator(chain)
    _set_fee(chain)
    _shock(chain, DEEP_ETH_USD_8)
    executor = _executor(chain)
    vusdc = chain.d.at(vtoken_abi(), v["vtokens"]["USDC"])
    weth, reserve, repay = m["tokens"]["WETH"], v["protocol_share_reserve"], 2_500 * USDC
    ctx.fund("USDC", executor.address, repay)
    lending, _, raw = asyncio.run(load_state(m))
    key = reserve_key("venus", v["comptroller"], v["vtokens"]["WETH"])
    market = venus.accrue_interest(lending[key].state, int(raw["number"], 16) + 1)
    who = (reserve, executor.address, TREASURY)
    before = [_balance(chain, weth, a) for a in who]
    action = VenusLiquidation(v["vtokens"]["USDC"], m["tokens"]["USDC"],
                              m["borrowers"]["venus"][0], v["vtokens"]["WETH"], repay,
                              liquidator.address)  # fmt: skip
    _, receipt = _send(chain, executor, Plan((action,), weth, 0, NO_LOAN))
    assert int(receipt["blockNumber"], 16) == int(raw["number"], 16) + 1
    (seized,) = vusdc.events.LiquidateBorrow().process_receipt(receipt, errors=DISCARD)
    model = liquidator_seizure(market, seized["args"]["seizeTokens"], v["liquidation_incentive"],
                               liquidator.treasury_percent, PERCENT)  # fmt: skip
    assert model is not None and model.redeem_fees > 0
    got = [_balance(chain, weth, a) - b for a, b in zip(who, before, strict=True)]
    assert got == [model.treasury_underlying, model.redeemed, model.redeem_fees]


@pytest.mark.parametrize("via_liquidator", [False, True], ids=["direct", "liquidator"])
def test_strategy_liquidation_keeps_its_expected_profit_with_the_fee(
    chain: Devnet, via_liquidator: bool
) -> None:
    m = chain.manifest
    liquidator = _with_liquidator(chain)[1] if via_liquidator else None
    _set_fee(chain)
    executor = _executor(chain)  # before the state is read: the plan lands in the next block
    price_shock(chain.context(), "WETH", -12)
    lending, pools, raw = asyncio.run(load_state(m))
    ref = refs_from_manifest(m)[1]
    assert lending[treasury_percent_key(ref.comptroller)] == PERCENT
    view, block = StateView({**pools, **lending}), block_context(m, lending, raw)
    cfg = liquidation_config(m, pools, graph_router(PoolGraph.from_entries(pools)))
    strategy = VenusStrategy(ref, cfg, liquidator=liquidator)
    opps = strategy.evaluate(m["borrowers"]["venus"], view, block)
    assert opps, "the shock must make a profitable liquidation"
    best = max(opps, key=lambda o: o.net_profit(block.gas_price) * 10**18 // o.eth_price)
    # The fee is priced in: the same state without it expects more from the same account.
    free = StateView({**pools, **lending, treasury_percent_key(ref.comptroller): 0})
    same = strategy.evaluate([best.detail["borrower"]], free, block)
    assert same and max(o.expected_profit for o in same) > best.expected_profit
    collateral = best.detail["collateral_asset"]
    before = (
        _balance(chain, best.profit_token, executor.address),
        _balance(chain, collateral, TREASURY),
    )
    simulated, receipt = _send(chain, executor, best.plan)
    assert simulated > 0 and int(receipt["blockNumber"], 16) == block.block + 1
    kept = _balance(chain, best.profit_token, executor.address) - before[0]
    fee = _balance(chain, collateral, TREASURY) - before[1]
    how = "Liquidator" if liquidator else "direct"
    print(f"venus with a {PERCENT / 1e16:.2f}% redeem fee ({how}): expected "
          f"{best.expected_profit} kept {kept}, treasury fee {fee}, "
          f"gas {int(receipt['gasUsed'], 16)} (estimate {best.gas_estimate})")  # fmt: skip
    assert fee > 0
    assert kept == best.expected_profit  # to the wei
